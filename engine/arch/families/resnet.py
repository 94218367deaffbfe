"""The `resnet` family: plain and residual nets, basic or bottleneck blocks, post- or pre-activation,
shortcut options A/B/C/none, CIFAR or ImageNet stem.

Sources: He et al. 2016, "Deep Residual Learning" (options A/B/C, sec. 3.3; CIFAR nets, sec. 4.2);
He et al. 2016b, "Identity Mappings in Deep Residual Networks" (pre-activation); torchvision's
resnet.py layout (stride on the 3x3 conv of the bottleneck, BN after every conv, no conv bias).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, field_validator

from engine.arch.families.registry import register_family
from engine.arch.presets import register_preset
from engine.ir.graph import INPUT, Graph
from engine.spec import PosInt, SpecBase, StrictModel

EXPANSION = {"basic": 1, "bottleneck": 4}


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
        self.g = Graph(tuple(spec.input), name=spec.name, family="resnet", init="torchvision")
        self.use_bn = spec.norm == "batch"

    def conv(self, name: str, src: str, out: int, kernel: int, stride: int = 1, meta: dict | None = None) -> str:
        # Without a norm layer the conv carries its own bias (the BN shift is what makes it redundant).
        return self.g.add(name, "conv2d", src, meta, out_channels=out, kernel=kernel, stride=stride,
                          bias=not self.use_bn)

    def bn(self, name: str, src: str, meta: dict | None = None) -> str:
        return self.g.add(name, "batchnorm2d", src, meta) if self.use_bn else src

    def conv_bn_relu(self, prefix: str, idx: int, src: str, out: int, kernel: int, stride: int,
                     relu: bool = True) -> str:
        """Post-activation unit: conv -> BN -> ReLU (ReLU optional for the last unit of a branch)."""
        meta = {"role": "branch"}
        x = self.conv(f"{prefix}.conv{idx}", src, out, kernel, stride, meta)
        x = self.bn(f"{prefix}.bn{idx}", x, meta)
        return self.g.add(f"{prefix}.relu{idx}", "relu", x, meta) if relu else x

    def bn_relu_conv(self, prefix: str, idx: int, src: str, out: int, kernel: int, stride: int) -> tuple[str, str]:
        """Pre-activation unit: BN -> ReLU -> conv. Returns (pre-activated input, conv output)."""
        meta = {"role": "branch"}
        x = self.bn(f"{prefix}.bn{idx}", src, meta)
        act = self.g.add(f"{prefix}.relu{idx}", "relu", x, meta)
        return act, self.conv(f"{prefix}.conv{idx}", act, out, kernel, stride, meta)

    # ---- parts -------------------------------------------------------------------------------------------

    def stem(self, width: int) -> tuple[str, int]:
        s = self.spec
        if s.stem == "imagenet":
            x = self.conv("stem.conv", INPUT, 64, 7, 2)
            x = self.bn("stem.bn", x)
            x = self.g.add("stem.relu", "relu", x)
            return self.g.add("stem.pool", "maxpool2d", x, kernel=3, stride=2, padding=1), 64
        x = self.conv("stem.conv", INPUT, width, 3, 1)
        if s.preact:  # the first pre-activation block normalises its own input (He et al. 2016b)
            return x, width
        x = self.bn("stem.bn", x)
        return self.g.add("stem.relu", "relu", x), width

    def shortcut(self, prefix: str, src: str, preact_src: str, cin: int, cout: int, stride: int) -> str | None:
        """The shortcut path's output node, or None for no shortcut (a plain net)."""
        kind = self.spec.shortcut
        if kind == "none":
            return None
        changes = stride != 1 or cin != cout
        meta = {"role": "shortcut"}
        if kind == "C" or (kind == "B" and changes):
            # Pre-activation projections read the normalised input (He et al. 2016b, fig. 1b code).
            x = self.conv(f"{prefix}.shortcut.conv", preact_src if self.spec.preact else src, cout, 1, stride, meta)
            return x if self.spec.preact else self.bn(f"{prefix}.shortcut.bn", x, meta)
        if changes:  # option A, or B where the shape does not change
            return self.g.add(f"{prefix}.shortcut", "zeropad_shortcut", src, meta, out_channels=cout, stride=stride)
        return src

    def block(self, prefix: str, src: str, cin: int, width: int, stride: int) -> tuple[str, int]:
        s = self.spec
        cout = width * EXPANSION[s.block]
        if s.preact:
            if s.block == "basic":
                act, x = self.bn_relu_conv(prefix, 1, src, width, 3, stride)
                _, x = self.bn_relu_conv(prefix, 2, x, width, 3, 1)
            else:
                act, x = self.bn_relu_conv(prefix, 1, src, width, 1, 1)
                _, x = self.bn_relu_conv(prefix, 2, x, width, 3, stride)
                _, x = self.bn_relu_conv(prefix, 3, x, cout, 1, 1)
            branch_end = x
        else:
            act = src
            if s.block == "basic":
                x = self.conv_bn_relu(prefix, 1, src, width, 3, stride)
                x = self.conv_bn_relu(prefix, 2, x, width, 3, 1, relu=False)
                last = 2
            else:
                x = self.conv_bn_relu(prefix, 1, src, width, 1, 1)
                x = self.conv_bn_relu(prefix, 2, x, width, 3, stride)
                x = self.conv_bn_relu(prefix, 3, x, cout, 1, 1, relu=False)
                last = 3
            branch_end = x
        if s.zero_init_residual:
            # Zero the last BN gamma of the branch (Goyal et al. 2017); without BN (or pre-activation,
            # where the branch ends in a conv) zero the last conv instead, so the block starts as identity.
            self.g.nodes[branch_end].meta["zero_init"] = True
        short = self.shortcut(prefix, src, act, cin, cout, stride)
        if short is not None:
            x = self.g.add(f"{prefix}.add", "add", [branch_end, short], {
                "role": "merge", "input_labels": ["residual branch", "shortcut"],
                "hint": "use shortcut B or C (a projection) or an adapter",
            })
        if not s.preact:
            # The same name with or without a shortcut, so a plain net and its residual twin line up.
            x = self.g.add(f"{prefix}.relu{last}", "relu", x, {"role": "merge" if short is not None else "branch"})
        return x, cout

    def build(self) -> Graph:
        s = self.spec
        x, c = self.stem(s.stages[0].width)
        for i, stage in enumerate(s.stages):
            stride = stage.stride if stage.stride is not None else (1 if i == 0 else 2)
            for b in range(stage.blocks):
                x, c = self.block(f"stage{i + 1}.block{b}", x, c, stage.width, stride if b == 0 else 1)
        if s.preact:
            x = self.bn("head.bn", x)
            x = self.g.add("head.relu", "relu", x)
        x = self.g.add("head.pool", "global_avgpool", x)
        x = self.g.add("head.flatten", "flatten", x)
        self.g.add("head.fc", "linear", x, out_features=s.num_classes)
        return self.g


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
