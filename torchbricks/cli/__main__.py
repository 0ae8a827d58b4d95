"""``python -m torchbricks.cli``: the same as the ``torchbricks`` command."""

import sys

from torchbricks.cli._main import main

sys.exit(main())
