"""The `unet` family: an encoder-decoder whose long skips carry each encoder level to its decoder level.

Source: Ronneberger et al. 2015, "U-Net" (double 3x3 convs, 2x2 max-pool down, 2x2 up-convolution,
skip concatenation, 1x1 head), with 'same' padding and BatchNorm after each conv (conv bias kept), as
the classic reference of REFERENCE.md (31,043,521 parameters). Names: ``enc1.conv1``, ``enc2.pool``,
``bottleneck.conv2``, ``up3.conv``, ``dec3.merge`` (the long skip's merge), ``dec3.conv1``, ``head.conv``;
levels count from 1 at full resolution.

``up: bilinear`` upsamples without parameters and then maps the channels with a 1x1 conv (the paper's
"upsampling followed by a convolution"), so both up modes feed the decoder the same channel counts.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, ValidationInfo, field_validator

from engine.arch.families.registry import register_family
from engine.arch.presets import register_preset
from engine.core.errors import ShapeError
from engine.core.text import fmt_shape
from engine.ir.graph import INPUT, Graph
from engine.spec import PosInt, SpecBase


class UNetSpec(SpecBase):
    family: Literal["unet"] = "unet"
    input: list[PosInt] = Field(default_factory=lambda: [3, 128, 128])
    in_channels: PosInt | None = Field(default=None, description="default: the input's channels")
    out_channels: PosInt = 1
    widths: list[PosInt] = Field(default_factory=lambda: [64, 128, 256, 512, 1024], min_length=2,
                                 description="encoder widths, then the bottleneck width")
    up: Literal["transpose", "bilinear"] = "transpose"
    merge: Literal["concat", "add", "none"] = "concat"

    @field_validator("input")
    @classmethod
    def _image(cls, v: list[int]) -> list[int]:
        if len(v) != 3:
            raise ValueError(f"must be [C, H, W] for an image, got {v}")
        return v

    @field_validator("in_channels")
    @classmethod
    def _channels_agree(cls, v: int | None, info: ValidationInfo) -> int | None:
        shape = info.data.get("input")
        if v is not None and shape and v != shape[0]:
            raise ValueError(f"is {v} but the input {shape} has {shape[0]} channels; make them equal or leave "
                             "in_channels out")
        return v


def _check_divisible(spec: UNetSpec) -> None:
    """Each 2x2 max-pool must halve the map exactly, or the decoder cannot restore it for the long skip."""
    depth = len(spec.widths) - 1
    h, w = spec.input[1], spec.input[2]
    for level in range(2, depth + 2):
        name = f"enc{level}" if level <= depth else "bottleneck"
        if h % 2 or w % 2:
            m = 2 ** depth
            raise ShapeError(
                f"{name}.pool",
                f"level {name} cannot halve the {h}x{w} map exactly, so the decoder could not bring it back to "
                f"the size of its long skip; the input's H and W must be divisible by 2^{depth} = {m}",
                expected=f"H and W divisible by {m}", received=fmt_shape(spec.input),
                hint=f"use an input of {max(m, spec.input[1] // m * m)}x{max(m, spec.input[2] // m * m)} "
                     "or fewer widths",
            )
        h, w = h // 2, w // 2


class _Builder:
    def __init__(self, spec: UNetSpec) -> None:
        self.spec = spec
        self.g = Graph(tuple(spec.input), name=spec.name, family="unet", init="torchvision")

    def double_conv(self, prefix: str, src: str, width: int) -> str:
        x = src
        for i in (1, 2):
            x = self.g.add(f"{prefix}.conv{i}", "conv2d", x, out_channels=width, kernel=3, bias=True)
            x = self.g.add(f"{prefix}.bn{i}", "batchnorm2d", x)
            x = self.g.add(f"{prefix}.relu{i}", "relu", x)
        return x

    def build(self) -> Graph:
        s, g = self.spec, self.g
        _check_divisible(s)
        *enc_widths, bottom = s.widths
        skips: list[str] = []
        x = INPUT
        # Stages: encoder (its levels are blocks), bottleneck, decoder (each level's up-conv and its convs are
        # blocks), head; the long skips run from encoder blocks to decoder blocks.
        for i, width in enumerate(enc_widths, start=1):
            with g.scope("encoder", f"enc{i}"):
                if i > 1:
                    x = g.add(f"enc{i}.pool", "maxpool2d", x, kernel=2)
                x = self.double_conv(f"enc{i}", x, width)
            skips.append(x)
        with g.scope("bottleneck"):
            x = g.add("bottleneck.pool", "maxpool2d", x, kernel=2)
            x = self.double_conv("bottleneck", x, bottom)
        for i in range(len(enc_widths), 0, -1):
            width = enc_widths[i - 1]
            with g.scope("decoder", f"up{i}"):
                if s.up == "transpose":
                    x = g.add(f"up{i}.conv", "conv_transpose2d", x, out_channels=width, kernel=2, stride=2,
                              bias=True)
                else:
                    x = g.add(f"up{i}.upsample", "upsample", x, scale=2, mode="bilinear")
                    x = g.add(f"up{i}.conv", "conv2d", x, out_channels=width, kernel=1, bias=True)
            with g.scope("decoder", f"dec{i}"):
                if s.merge != "none":
                    # torch.cat([skip, upsampled], 1) as the reference; "main" = the input remove_skip keeps.
                    x = g.add(f"dec{i}.merge", s.merge, [skips[i - 1], x], {
                        "role": "merge", "main": 1, "input_labels": [f"long skip from enc{i}", "upsampled"],
                        "hint": "the long skip and the upsampled map must agree; check the input size"})
                x = self.double_conv(f"dec{i}", x, width)
        with g.scope("head"):
            g.add("head.conv", "conv2d", x, out_channels=s.out_channels, kernel=1, bias=True)
        return g


@register_family("unet", UNetSpec)
def expand_unet(spec: UNetSpec) -> Graph:
    return _Builder(spec).build()


register_preset("unet", {"family": "unet", "input": [3, 128, 128], "out_channels": 1,
                         "widths": [64, 128, 256, 512, 1024], "up": "transpose", "merge": "concat"})
# Sized for the built-in `shapes_seg` dataset (3 x 32 x 32 images, a 1-channel mask): trains on a CPU.
register_preset("unet_small", {"family": "unet", "input": [3, 32, 32], "out_channels": 1,
                               "widths": [16, 32, 64, 128], "up": "transpose", "merge": "concat"})
