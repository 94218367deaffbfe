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

from engine.analysis.counts import analyze
from engine.arch.blocks import BLOCKS, Layers, build_block, get_block
from engine.core.errors import SpecError
from engine.ir.graph import INPUT, Graph

KINDS = ("basic", "bottleneck")  # the Blocks page's comparison; every entry of the block registry can be counted
# a 1x1 projection shortcut at C channels: C^2 conv weights, one BN (2C) or a bias (C)
PROJECTION = (Fraction(1), Fraction(2), Fraction(1))


def _closed_form(kind: str) -> tuple[Fraction, Fraction, Fraction]:
    """(conv weights per C^2, BN parameters per C, biases per C without BN), from the block registry."""
    if kind == "projection":
        return PROJECTION
    block = get_block(kind)
    return block.conv_weights, block.norm_params, block.bias_params


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
    """One block of the registry at C output channels and stride 1 (identity shortcut), built by the same
    builder as the ResNet family; kind "projection" is the 1x1 projection shortcut (+ BN) alone."""
    g = Graph((channels, height, width), name=f"{kind}{channels}", family="graph")
    lay = Layers(g, norm=with_bn)
    with g.scope("block", "block"):
        if kind == "projection":
            lay.bn("bn", lay.conv("conv", INPUT, channels, 1, role="shortcut"), role="shortcut")
            return g
        block = get_block(kind)
        build_block(lay, block, "block", INPUT, channels, channels // block.expansion, 1, shortcut_kind="A")
    return g


def _part(kind: str, channels: int, height: int, width: int, with_bn: bool) -> PartCost:
    a = analyze(block_graph(kind, channels, height, width, with_bn))
    weights = sum(r.params - (r.out_shape[0] if not with_bn else 0) for r in a.nodes if r.op == "conv2d")
    per_c2, norm, bias = _closed_form(kind)
    w = _frac(per_c2)
    per_c = _frac(norm if with_bn else bias) or "1"
    params_formula = f"{w}C² + {'' if per_c == '1' else per_c}C"
    return PartCost(kind, weights, a.params, a.macs, a.flops, f"{w}C²", params_formula, f"{w}C²·H·W")


def block_costs(kind: str, channels: int, height: int, width: int, with_bn: bool = True) -> BlockCosts:
    """Params, MACs and FLOPs of one `kind` block at `channels` (a bottleneck's inner width is C/4) and of
    a 1x1 projection shortcut at the same width, on an HxW map at stride 1, with the closed forms."""
    if kind not in BLOCKS:
        raise SpecError("kind", f"unknown block kind {kind!r}; valid: {', '.join(BLOCKS.names())}")
    for field, value in (("channels", channels), ("height", height), ("width", width)):
        if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
            raise SpecError(field, f"must be a positive integer, got {value!r}")
    if channels % 4:
        raise SpecError("channels", f"must be divisible by 4 (a bottleneck's inner width is C/4), got {channels}")
    block = _part(kind, channels, height, width, with_bn)
    projection = _part("projection", channels, height, width, with_bn)
    ratio = get_block("basic").conv_weights / get_block("bottleneck").conv_weights
    return BlockCosts(kind, channels, height, width, with_bn, block, projection, float(ratio),
                      f"18 / (17/16) = {ratio.numerator}/{ratio.denominator} = {float(ratio):.2f}x")
