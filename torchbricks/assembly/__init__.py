"""From parts to a model: assemble a multi-task collection, build it from a config, save and load it.

* :func:`assemble_model` — preprocessor → backbone → optional neck → one brick dict per task, with
  the interfaces between them checked.
* :func:`resolve_config` / :func:`build_model` — a config (dict, JSON or YAML) validated with every
  problem reported at once, defaults and qualified names filled in, then assembled.
* :func:`save_model` / :func:`load_model` — a model folder: ``config.json`` + ``weights/`` + ``README.md`` (the
  model card, :func:`rewrite_card`) + ``checksums.sha256``; :func:`verify_model` checks one.
* :func:`input_contract` / :func:`trained_input` — the ``input`` a saved ``config.json`` records.
* pretrained weights in configs: a part's ``weights`` tag (checked, its preprocessing, provenance in
  ``config["pretrained"]``), or a model-level ``weights: {from: folder}`` (a :class:`StartReport`).
* :func:`resolve_part` / :func:`require_part` — one part (or a dataset) looked up in its registry, its
  arguments checked, as a :class:`Part` that builds it; :func:`raise_problems` reports collected problems.

Example:
    >>> from torchbricks.assembly import build_model
    >>> model = build_model({"backbone": {"name": "resnet18", "levels": [5]},
    ...                      "tasks": {"kind": {"task": "image_classification", "num_classes": 2}}})
    >>> model.config["backbone"]["name"]
    'torchbricks:resnet18'
"""

from torchbricks.assembly._assemble import RESERVED_NAMES, assemble_model
from torchbricks.assembly._card import CARD_FILE, model_card
from torchbricks.assembly._checksums import CHECKSUMS_FILE, compare_checksums, write_checksums
from torchbricks.assembly._config import CONFIG_DEFAULTS, CONFIG_KEYS, build_model, load_config, resolve_config
from torchbricks.assembly._input import input_contract, trained_input
from torchbricks.assembly._model_folder import CONFIG_FILE, WEIGHTS_FOLDER, load_model, rewrite_card, save_model
from torchbricks.assembly._parts import SUPPLIED_BY_ASSEMBLER, Part, raise_problems, require_part, resolve_part
from torchbricks.assembly._pretrained import names_a_file
from torchbricks.assembly._start_from import StartReport
from torchbricks.assembly._verify import VerifyReport, verify_model

__all__ = [
    "CARD_FILE",
    "CHECKSUMS_FILE",
    "CONFIG_DEFAULTS",
    "CONFIG_FILE",
    "CONFIG_KEYS",
    "RESERVED_NAMES",
    "SUPPLIED_BY_ASSEMBLER",
    "WEIGHTS_FOLDER",
    "Part",
    "StartReport",
    "VerifyReport",
    "assemble_model",
    "build_model",
    "compare_checksums",
    "input_contract",
    "load_config",
    "load_model",
    "model_card",
    "names_a_file",
    "raise_problems",
    "require_part",
    "resolve_config",
    "resolve_part",
    "rewrite_card",
    "save_model",
    "trained_input",
    "verify_model",
    "write_checksums",
]
