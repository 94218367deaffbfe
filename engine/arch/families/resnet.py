"""The `resnet` family: plain and residual nets, basic or bottleneck blocks, post- or pre-activation,
shortcut options A/B/C/none, CIFAR or ImageNet stem.

Sources: He et al. 2016, "Deep Residual Learning" (options A/B/C, sec. 3.3; CIFAR nets, sec. 4.2);
He et al. 2016b, "Identity Mappings in Deep Residual Networks" (pre-activation); torchvision's
resnet.py layout (stride on the 3x3 conv of the bottleneck, BN after every conv, no conv bias).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, field_validator

from engine.arch.blocks import Layers, block_name, build_block, get_block
from engine.arch.families.registry import register_family
from engine.arch.presets import register_preset
from engine.ir.graph import INPUT, Graph
from engine.spec import PosInt, SpecBase, StrictModel


class Stage(StrictModel):
    blocks: PosInt
    width: PosInt
    stride: PosInt | None = Field(default=None, description="default: 1 for the first stage, 2 after")


class ResNetSpec(SpecBase):
    family: Literal["resnet"] = "resnet"
    input: list[PosInt] = Field(default_factory=lambda: [3, 32, 32])
    num_classes: PosInt = 10
    stem: Literal["cifar", "imagenet"] = "cifar"
    block: Literal["basic", "bottleneck"] = "basic"
    preact: bool = False
    shortcut: Literal["A", "B", "C", "none"] = "A"
    norm: Literal["batch", "none"] = "batch"
    zero_init_residual: bool = False
    # torchvision: Kaiming normal fan_out convs, BN 1/0 (He et al. 2015, as torchvision's resnet.py); default:
    # PyTorch's per-layer defaults (conv weights U(+-1/sqrt(3 fan_in))), the init under which a deep plain net
    # without BatchNorm loses its gradient (the Lessons page shows it).
    init: Literal["torchvision", "default", "he", "xavier"] = Field(
        "torchvision", description="torchvision: Kaiming normal (fan_out) convs, BN weight 1 / bias 0; default: "
        "PyTorch's own per-layer init; he: Kaiming normal (fan_in); xavier: Glorot uniform")
    stages: list[Stage] = Field(
        default_factory=lambda: [Stage(blocks=3, width=16), Stage(blocks=3, width=32), Stage(blocks=3, width=64)],
        min_length=1,
    )

    @field_validator("input")
    @classmethod
    def _image(cls, v: list[int]) -> list[int]:
        if len(v) != 3:
            raise ValueError(f"must be [C, H, W] for an image, got {v}")
        return v


class _Builder:
    def __init__(self, spec: ResNetSpec) -> None:
        self.spec = spec
        self.g = Graph(tuple(spec.input), name=spec.name, family="resnet", init=spec.init)
        self.layers = Layers(self.g, norm=spec.norm == "batch")

    def stem(self, width: int) -> tuple[str, int]:
        s, lay = self.spec, self.layers
        if s.stem == "imagenet":
            x = lay.bn("stem.bn", lay.conv("stem.conv", INPUT, 64, 7, 2, role=""), role="")
            x = lay.relu("stem.relu", x, role="")
            return self.g.add("stem.pool", "maxpool2d", x, kernel=3, stride=2, padding=1), 64
        x = lay.conv("stem.conv", INPUT, width, 3, 1, role="")
        if s.preact:  # the first pre-activation block normalises its own input (He et al. 2016b)
            return x, width
        return lay.relu("stem.relu", lay.bn("stem.bn", x, role=""), role=""), width

    def build(self) -> Graph:
        s, g = self.spec, self.g
        block = get_block(block_name(s.block, s.preact))
        with g.scope("stem"):
            x, c = self.stem(s.stages[0].width)
        for i, stage in enumerate(s.stages):
            stride = stage.stride if stage.stride is not None else (1 if i == 0 else 2)
            for b in range(stage.blocks):
                name = f"stage{i + 1}.block{b}"
                with g.scope(f"stage{i + 1}", name):
                    x, c = build_block(self.layers, block, name, x, c, stage.width, stride if b == 0 else 1,
                                       shortcut_kind=s.shortcut, zero_init=s.zero_init_residual)
        with g.scope("head"):
            if s.preact:
                x = self.layers.relu("head.relu", self.layers.bn("head.bn", x, role=""), role="")
            x = g.add("head.pool", "global_avgpool", x)
            x = g.add("head.flatten", "flatten", x)
            g.add("head.fc", "linear", x, out_features=s.num_classes)
        return g


@register_family("resnet", ResNetSpec)
def expand_resnet(spec: ResNetSpec) -> Graph:
    return _Builder(spec).build()


# ---- presets: ImageNet ResNets as torchvision, CIFAR nets as He et al. 2016 sec. 4.2 -------------------


def _imagenet_resnet(block: str, blocks: list[int]) -> dict[str, Any]:
    return {"family": "resnet", "input": [3, 224, 224], "num_classes": 1000, "stem": "imagenet",
            "block": block, "shortcut": "B",
            "stages": [{"blocks": n, "width": w} for n, w in zip(blocks, [64, 128, 256, 512], strict=True)]}


def _cifar_resnet(n: int, shortcut: str = "A", preact: bool = False) -> dict[str, Any]:
    return {"family": "resnet", "input": [3, 32, 32], "num_classes": 10, "stem": "cifar", "block": "basic",
            "shortcut": shortcut, "preact": preact,
            "stages": [{"blocks": n, "width": w} for w in (16, 32, 64)]}


for _name, _block, _blocks in [
    ("resnet18", "basic", [2, 2, 2, 2]),
    ("resnet34", "basic", [3, 4, 6, 3]),
    ("resnet50", "bottleneck", [3, 4, 6, 3]),
    ("resnet101", "bottleneck", [3, 4, 23, 3]),
    ("resnet152", "bottleneck", [3, 8, 36, 3]),
]:
    register_preset(_name, _imagenet_resnet(_block, _blocks))

for _n in (3, 5, 7, 9, 18):
    register_preset(f"resnet{6 * _n + 2}", _cifar_resnet(_n))
    register_preset(f"plain{6 * _n + 2}", _cifar_resnet(_n, shortcut="none"))

# kuangliu/pytorch-cifar's PreActResNet18: CIFAR stem to 64, widths 64-512, projection where shapes change.
register_preset("preact_resnet18", {
    "family": "resnet", "input": [3, 32, 32], "num_classes": 10, "stem": "cifar", "block": "basic",
    "preact": True, "shortcut": "B",
    "stages": [{"blocks": 2, "width": w} for w in (64, 128, 256, 512)],
})
register_preset("preact_resnet110", _cifar_resnet(18, shortcut="B", preact=True))
# A tiny net for tests, demos and the quickstart: trains in seconds on a CPU.
register_preset("resnet8", _cifar_resnet(1))
