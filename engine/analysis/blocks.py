"""Costs of one residual block in closed form and from the IR: why ResNet-50 uses bottlenecks.

At C channels (He et al. 2016, sec. 4.1 "Deeper Bottleneck Architectures"; REFERENCE.md):

- basic block: two 3x3 convs C -> C: 2 * 9 C^2 = 18 C^2 weights;
- bottleneck (inner width C/4): 1x1 C -> C/4, 3x3 C/4 -> C/4, 1x1 C/4 -> C:
  C^2/4 + 9 C^2/16 + C^2/4 = 17/16 C^2 weights;
- the ratio is 18 / (17/16) = 288/17 = 16.94x at equal C; at stride 1 MACs are weights x H x W;
- a projection shortcut (1x1 conv, option C at equal width) is C^2 weights, C^2 H W MACs.

The closed forms are checked against the graph (`analyze`) of the same block, so they can be shown
next to the numbers the engine uses everywhere else.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from fractions import Fraction
from typing import Any

from engine.analysis import analyze
from engine.core.errors import SpecError
from engine.ir.graph import INPUT, Graph

KINDS = ("basic", "bottleneck")
# conv weights per C^2 and BN parameters per C, by block kind (see the module docstring)
_WEIGHTS = {"basic": Fraction(18), "bottleneck": Fraction(17, 16), "projection": Fraction(1)}
_BN = {"basic": 4, "bottleneck": 3, "projection": 2}  # basic: 2 BN(C); bottleneck: 2 BN(C/4) + BN(C)


@dataclass
class PartCost:
    name: str
    conv_weights: int
    params: int  # conv weights + BN gamma and beta (with_bn)
    macs: int
    flops: int  # forward: 2 per MAC + BN, ReLU and the residual add (engine.ir.ops rules)
    weights_formula: str  # "18C²"
    params_formula: str  # "18C² + 4C"
    macs_formula: str  # "18C²·H·W"


@dataclass
class BlockCosts:
    kind: str
    channels: int
    height: int
    width: int
    with_bn: bool
    block: PartCost
    projection: PartCost
    ratio: float  # basic / bottleneck conv weights at equal C: 288/17 = 16.94
    ratio_formula: str

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def _frac(f: Fraction) -> str:
    """18 -> '18', 17/16 -> '17/16 ', 1 -> '' (so formulas read 18C², 17/16 C², C²)."""
    if f == 1:
        return ""
    return str(f.numerator) if f.denominator == 1 else f"{f.numerator}/{f.denominator} "


def block_graph(kind: str, channels: int, height: int, width: int, with_bn: bool = True) -> Graph:
    """One block at C channels and stride 1, post-activation (torchvision layout), identity shortcut;
    kind "projection" is the 1x1 projection shortcut (+ BN) alone."""
    g = Graph((channels, height, width), name=f"{kind}{channels}", family="graph")
    x = INPUT

    def unit(i: int, src: str, out: int, kernel: int, relu: bool = True) -> str:
        y = g.add(f"conv{i}", "conv2d", src, {"role": "branch"}, out_channels=out, kernel=kernel, bias=not with_bn)
        if with_bn:
            y = g.add(f"bn{i}", "batchnorm2d", y, {"role": "branch"})
        return g.add(f"relu{i}", "relu", y, {"role": "branch"}) if relu else y

    if kind == "projection":
        y = g.add("conv", "conv2d", x, {"role": "shortcut"}, out_channels=channels, kernel=1, bias=not with_bn)
        if with_bn:
            g.add("bn", "batchnorm2d", y, {"role": "shortcut"})
        return g
    if kind == "basic":
        y = unit(2, unit(1, x, channels, 3), channels, 3, relu=False)
    else:
        inner = channels // 4
        y = unit(3, unit(2, unit(1, x, inner, 1), inner, 3), channels, 1, relu=False)
    y = g.add("add", "add", [y, x], {"role": "merge"})
    g.add("relu_out", "relu", y, {"role": "merge"})
    return g


def _part(kind: str, channels: int, height: int, width: int, with_bn: bool) -> PartCost:
    a = analyze(block_graph(kind, channels, height, width, with_bn))
    weights = sum(r.params - (r.out_shape[0] if not with_bn else 0) for r in a.nodes if r.op == "conv2d")
    w = _frac(_WEIGHTS[kind])
    per_c = str(_BN[kind]) if with_bn else _bias_count(kind)
    params_formula = f"{w}C² + {'' if per_c == '1' else per_c}C"
    return PartCost(kind, weights, a.params, a.macs, a.flops, f"{w}C²", params_formula, f"{w}C²·H·W")


def _bias_count(kind: str) -> str:
    # Without BN every conv carries a bias: basic 2C, bottleneck C/4 + C/4 + C = 3C/2, projection C.
    return {"basic": "2", "bottleneck": "3/2 ", "projection": "1"}[kind]


def block_costs(kind: str, channels: int, height: int, width: int, with_bn: bool = True) -> BlockCosts:
    """Params, MACs and FLOPs of one `kind` block at `channels` (a bottleneck's inner width is C/4) and of
    a 1x1 projection shortcut at the same width, on an HxW map at stride 1, with the closed forms."""
    if kind not in KINDS:
        raise SpecError("kind", f"unknown block kind {kind!r}; valid: {', '.join(KINDS)}")
    for field, value in (("channels", channels), ("height", height), ("width", width)):
        if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
            raise SpecError(field, f"must be a positive integer, got {value!r}")
    if channels % 4:
        raise SpecError("channels", f"must be divisible by 4 (a bottleneck's inner width is C/4), got {channels}")
    block = _part(kind, channels, height, width, with_bn)
    projection = _part("projection", channels, height, width, with_bn)
    ratio = _WEIGHTS["basic"] / _WEIGHTS["bottleneck"]
    return BlockCosts(kind, channels, height, width, with_bn, block, projection, float(ratio),
                      f"18 / (17/16) = {ratio.numerator}/{ratio.denominator} = {float(ratio):.2f}x")
