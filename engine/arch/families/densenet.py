"""The `densenet` family: dense blocks whose layers concatenate their features onto a running map.

Sources: Huang et al. 2017, "Densely Connected Convolutional Networks" (dense layers BN-ReLU-conv1x1-
BN-ReLU-conv3x3, sec. 3; the BC variant with bottleneck width 4k and compression 0.5; the CIFAR nets
with a single 3x3 conv stem to 2k features, sec. 4); torchvision's densenet.py layout (the figures of
REFERENCE.md). Names: ``stem.conv``, ``block2.layer5.conv1``, ``block2.layer5.concat``,
``transition2.conv``, ``head.fc`` (blocks and layers count from 1, as torchvision's denseblock1/denselayer1).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, field_validator

from engine.arch.families.registry import register_family
from engine.arch.presets import register_preset
from engine.ir.graph import INPUT, Graph
from engine.spec import PosInt, SpecBase


class DenseNetSpec(SpecBase):
    family: Literal["densenet"] = "densenet"
    input: list[PosInt] = Field(default_factory=lambda: [3, 224, 224])
    num_classes: PosInt = 1000
    growth_rate: PosInt = 32
    block_config: list[PosInt] = Field(default_factory=lambda: [6, 12, 24, 16], min_length=1)
    num_init_features: PosInt = 64
    bn_size: int = Field(4, description="bottleneck width in units of growth_rate; 0 = no bottleneck")
    compression: float = Field(0.5, description="transition output = floor(compression * input), in (0, 1]")
    stem: Literal["imagenet", "cifar"] = "imagenet"

    @field_validator("input")
    @classmethod
    def _image(cls, v: list[int]) -> list[int]:
        if len(v) != 3:
            raise ValueError(f"must be [C, H, W] for an image, got {v}")
        return v

    @field_validator("bn_size")
    @classmethod
    def _bn_size(cls, v: int) -> int:
        if v < 0:
            raise ValueError(f"must be 0 (no bottleneck) or a positive integer, got {v}")
        return v

    @field_validator("compression")
    @classmethod
    def _compression(cls, v: float) -> float:
        if not 0.0 < v <= 1.0:
            raise ValueError(f"must be in (0, 1] (0.5 halves the channels at each transition), got {v}")
        return v


class _Builder:
    def __init__(self, spec: DenseNetSpec) -> None:
        self.spec = spec
        self.g = Graph(tuple(spec.input), name=spec.name, family="densenet", init="torchvision")

    def bn_relu_conv(self, prefix: str, idx: str, src: str, out: int, kernel: int, role: str) -> str:
        meta = {"role": role}
        x = self.g.add(f"{prefix}.bn{idx}", "batchnorm2d", src, meta)
        x = self.g.add(f"{prefix}.relu{idx}", "relu", x, meta)
        return self.g.add(f"{prefix}.conv{idx}", "conv2d", x, meta, out_channels=out, kernel=kernel)

    def stem(self) -> str:
        s, g = self.spec, self.g
        if s.stem == "cifar":  # Huang et al. 2017, sec. 4: one 3x3 conv, no BN, no pooling
            return g.add("stem.conv", "conv2d", INPUT, out_channels=s.num_init_features, kernel=3)
        x = g.add("stem.conv", "conv2d", INPUT, out_channels=s.num_init_features, kernel=7, stride=2, padding=3)
        x = g.add("stem.bn", "batchnorm2d", x)
        x = g.add("stem.relu", "relu", x)
        return g.add("stem.pool", "maxpool2d", x, kernel=3, stride=2, padding=1)

    def dense_layer(self, prefix: str, src: str) -> str:
        s = self.spec
        if s.bn_size:
            x = self.bn_relu_conv(prefix, "1", src, s.bn_size * s.growth_rate, 1, "branch")
            x = self.bn_relu_conv(prefix, "2", x, s.growth_rate, 3, "branch")
        else:
            x = self.bn_relu_conv(prefix, "1", src, s.growth_rate, 3, "branch")
        # torch.cat([earlier features..., new], 1), as torchvision; "main" = the input remove_skip keeps.
        return self.g.add(f"{prefix}.concat", "concat", [src, x], {
            "role": "merge", "main": 1, "input_labels": ["earlier features", "new features"]})

    def build(self) -> Graph:
        s, g = self.spec, self.g
        with g.scope("stem"):
            x = self.stem()
        c = s.num_init_features
        # Stages: each dense block (its dense layers are its blocks) and each transition between them.
        for b, layers in enumerate(s.block_config, start=1):
            for i in range(1, layers + 1):
                with g.scope(f"block{b}", f"block{b}.layer{i}"):
                    x = self.dense_layer(f"block{b}.layer{i}", x)
                c += s.growth_rate
            if b < len(s.block_config):
                c = max(1, int(c * s.compression))
                with g.scope(f"transition{b}"):
                    x = self.bn_relu_conv(f"transition{b}", "", x, c, 1, "")
                    x = g.add(f"transition{b}.pool", "avgpool2d", x, kernel=2)
        with g.scope("head"):
            x = g.add("head.bn", "batchnorm2d", x)
            x = g.add("head.relu", "relu", x)
            x = g.add("head.pool", "global_avgpool", x)
            x = g.add("head.flatten", "flatten", x)
            g.add("head.fc", "linear", x, out_features=s.num_classes)
        return g


@register_family("densenet", DenseNetSpec)
def expand_densenet(spec: DenseNetSpec) -> Graph:
    return _Builder(spec).build()


def _imagenet(growth: int, blocks: list[int], init: int) -> dict[str, Any]:
    return {"family": "densenet", "input": [3, 224, 224], "num_classes": 1000, "growth_rate": growth,
            "block_config": blocks, "num_init_features": init, "bn_size": 4, "compression": 0.5, "stem": "imagenet"}


register_preset("densenet121", _imagenet(32, [6, 12, 24, 16], 64))
register_preset("densenet169", _imagenet(32, [6, 12, 32, 32], 64))
register_preset("densenet201", _imagenet(32, [6, 12, 48, 32], 64))
register_preset("densenet161", _imagenet(48, [6, 12, 36, 24], 96))
# DenseNet-BC (L=100, k=12) for CIFAR-10: (100 - 4) / 6 = 16 bottleneck layers per block, stem to 2k.
register_preset("densenet_bc_100", {
    "family": "densenet", "input": [3, 32, 32], "num_classes": 10, "growth_rate": 12, "block_config": [16, 16, 16],
    "num_init_features": 24, "bn_size": 4, "compression": 0.5, "stem": "cifar"})
