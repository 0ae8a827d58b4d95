"""Write the pack's shipped weights file and print its sha256 and size (for ``pretrained_weights.py``).

The file is made once and committed: ``torchbricks_example/weights/example_linear_head-demo.safetensors``,
a seeded, untrained ``example_linear_head`` with its default arguments (in_channels=256, num_classes=10).
Running the script again writes the same tensors; if the bytes ever differ (another safetensors version),
copy the printed sha256 and size into ``torchbricks_example/pretrained_weights.py``.

    python scripts/make_weights.py
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import torch
from safetensors.torch import save_file
from torchbricks_example.heads import example_linear_head

PACKAGE = Path(__file__).resolve().parents[1] / "torchbricks_example"
TARGET = PACKAGE / "weights" / "example_linear_head-demo.safetensors"
SEED = 0


def main() -> None:
    torch.manual_seed(SEED)
    head = example_linear_head()  # the default arguments: the entry's `arguments`
    TARGET.parent.mkdir(parents=True, exist_ok=True)
    save_file({name: tensor.contiguous() for name, tensor in head.state_dict().items()}, str(TARGET))
    data = TARGET.read_bytes()
    print(f"{TARGET.name}: sha256={hashlib.sha256(data).hexdigest()} size={len(data)}")


if __name__ == "__main__":
    main()
