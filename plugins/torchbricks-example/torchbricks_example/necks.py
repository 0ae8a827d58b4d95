"""Necks: modules between a backbone and the task heads.

Registered in ``pyproject.toml``::

    [project.entry-points."torchbricks.necks"]
    example_channel_mixer = "torchbricks_example.necks:example_channel_mixer"

The neck convention (shared with the standard necks, so ``torchbricks.assembly.assemble_model`` can
plug this neck behind any backbone): the neck receives the backbone's feature maps as separate
positional inputs, finest first; its factory accepts ``in_channels`` and ``in_strides`` (one per
map, from the backbone's ``feature_spec``); the built module sets ``feature_spec`` to describe what
it returns.

Template notes:

- Importing torch at the top of a brick module is fine: ``torchbricks list`` never imports this
  module. It reads the factory's docstring, signature and ``@declare_features`` from the source.
- The factory is a plain function returning an ``nn.Module``. Its first docstring line is the summary
  that ``torchbricks list`` shows; its keyword arguments (with type hints and defaults) are what
  ``create("necks", "example_channel_mixer", ...)`` accepts. Unknown or misspelled keywords are
  rejected before the factory is called, naming the accepted ones.

Example:
    >>> import torch
    >>> neck = example_channel_mixer(in_channels=(8, 16), in_strides=(8, 16), out_channels=4)
    >>> [tuple(feature.shape) for feature in neck(torch.rand(1, 8, 8, 8), torch.rand(1, 16, 4, 4))]
    [(1, 4, 8, 8), (1, 4, 4, 4)]
    >>> neck.feature_spec
    FeatureSpec(names=('m3', 'm4'), channels=(4, 4), strides=(8, 16))
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from torchbricks.features import FeatureSpec, declare_features


class ChannelMixer(nn.Module):
    """Per feature map: a 1x1 convolution, batch norm and ReLU to ``out_channels`` (sizes unchanged).

    ``feature_spec`` describes the output of *this* instance (one name, channel count and stride per
    map), so code that wires bricks together can read it after building.
    """

    def __init__(self, in_channels: Sequence[int], in_strides: Sequence[int], out_channels: int) -> None:
        super().__init__()
        # Validate when built, with a message naming the arguments (never fail later in forward).
        if not in_channels or len(in_channels) != len(in_strides):
            raise ValueError(
                f"ChannelMixer needs one stride per input map, got in_channels={tuple(in_channels)}, "
                f"in_strides={tuple(in_strides)}"
            )
        self.mixers = nn.ModuleList(
            nn.Sequential(
                nn.Conv2d(channels, out_channels, kernel_size=1, bias=False),
                nn.BatchNorm2d(out_channels),
                nn.ReLU(inplace=True),
            )
            for channels in in_channels
        )
        # A 1x1 convolution keeps the spatial size: each output has the stride of its input.
        # Name the outputs by level (log2 of the stride): m2 = stride 4, ..., m5 = stride 32.
        self.feature_spec = FeatureSpec(
            names=tuple(f"m{stride.bit_length() - 1}" for stride in in_strides),
            channels=(out_channels,) * len(in_strides),
            strides=tuple(in_strides),
        )

    def forward(self, *features: torch.Tensor) -> tuple[torch.Tensor, ...]:
        return tuple(mixer(feature) for mixer, feature in zip(self.mixers, features, strict=True))


# `declare_features` records the interface of the *default* configuration, so `torchbricks info` and
# code choosing a neck can read it without building anything. Use literal values: they are read from
# the source with `ast`. Leave the decorator out when no configuration is typical; then document the
# interface in the docstring (the built module's `feature_spec` is always exact).
@declare_features(names=("m2", "m3", "m4", "m5"), channels=(128, 128, 128, 128), strides=(4, 8, 16, 32))
def example_channel_mixer(
    in_channels: Sequence[int] = (64, 128, 256, 512),
    in_strides: Sequence[int] = (4, 8, 16, 32),
    out_channels: int = 128,
) -> ChannelMixer:
    """Mix each feature map's channels with a 1x1 convolution (same maps and strides, ``out_channels`` each).

    Args:
        in_channels: channels of each input map, finest first (default: ResNet-18's ``c2``-``c5``).
        in_strides: stride of each input map.
        out_channels: channels of every output map.

    Returns:
        A :class:`ChannelMixer` returning one map per input; its ``feature_spec`` names them ``m<level>``.
    """
    return ChannelMixer(in_channels=in_channels, in_strides=in_strides, out_channels=out_channels)
