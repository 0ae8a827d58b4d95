"""Pretrained weights: a ``weights`` entry whose file ships inside the pack.

Registered in ``pyproject.toml`` (the name is ``<brick>.<tag>``; quote it, a dotted TOML key would nest)::

    [project.entry-points."torchbricks.weights"]
    "example_linear_head.demo" = "torchbricks_example.pretrained_weights:example_linear_head_demo"

The entry point names a function without arguments returning a
:class:`~torchbricks.pretrained.PretrainedWeights`. ``torchbricks weights list`` shows the entry without
importing this module (it reads the function's docstring); the function runs when the weights are used.

Template notes:

- ``package_file`` names a file inside the installed package (``"package:relative/path"``): found where
  it is, no download, no cache copy. Large files belong on a server or the Hugging Face Hub instead:
  ``urls=(...)`` and/or ``hub=HubFile(repo_id, filename, revision)``; they are downloaded into the cache.
- ``sha256`` is the file's full hash (``sha256_is_prefix=True`` only where an upstream publishes just a
  prefix); every file is hashed and compared before it is used. ``scripts/make_weights.py`` made this file
  and printed its sha256 and size.
- ``arguments`` are the brick arguments the tensors fit: the brick refuses the weights when built otherwise.

Example:
    >>> from torchbricks.pretrained import fetch_weights, read_state_dict
    >>> weights = example_linear_head_demo()
    >>> weights.name, weights.default, fetch_weights(weights).name
    ('example_linear_head.demo', True, 'example_linear_head-demo.safetensors')
    >>> {name: tuple(tensor.shape) for name, tensor in read_state_dict(weights, fetch_weights(weights)).items()}
    {'linear.bias': (10,), 'linear.weight': (10, 256)}
"""

from __future__ import annotations

from torchbricks.pretrained import PretrainedWeights


def example_linear_head_demo() -> PretrainedWeights:
    """Seeded, untrained weights for example_linear_head (256 -> 10), shipped inside the pack."""
    return PretrainedWeights(
        brick="example_linear_head",
        tag="demo",
        kind="heads",
        arguments={"in_channels": 256, "num_classes": 10},
        sha256="0f52dfd98309ce0a35e2133bfc8dc65acf3daad5fce4d5a4d781c5dfb1174a2d",
        size=10432,
        package_file="torchbricks_example:weights/example_linear_head-demo.safetensors",
        format="safetensors",
        license="MIT",
        dataset="example",
        default=True,
        summary="Seeded, untrained weights for example_linear_head (256 -> 10), shipped inside the pack.",
        source_notes="Made by scripts/make_weights.py (torch.manual_seed(0)): a weights entry, not a trained model.",
    )
