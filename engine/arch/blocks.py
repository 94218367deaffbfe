"""The block registry (as timm's ``_block_registry``): each residual block is one entry holding its builder of
IR nodes and its closed-form cost. The ResNet family builds its stages from it, the Blocks page counts it
(`engine.analysis.blocks`), and the lesion study deletes what it builds.

Entries (He et al. 2016, sec. 3-4 and fig. 5; He et al. 2016b, "Identity Mappings", fig. 4e):

- ``basic``: 3x3 conv -> BN -> ReLU -> 3x3 conv -> BN, + shortcut, ReLU. At C channels: 18 C^2 conv weights.
- ``bottleneck``: 1x1 (to the inner width C/4) -> 3x3 -> 1x1 (back to C), each conv -> BN (-> ReLU), +
  shortcut, ReLU; the stride sits on the 3x3 conv (torchvision's layout). C^2/4 + 9 C^2/16 + C^2/4 = 17/16 C^2.
- ``preact_basic`` / ``preact_bottleneck``: the same convs in BN -> ReLU -> conv order, the sum not passed
  through a ReLU, and projection shortcuts reading the pre-activated input.

Shortcuts (He et al. 2016 sec. 3.3): ``A`` zero-pads channels and subsamples (no parameters) where the shape
changes, ``B`` projects (1x1 conv + BN) where it changes, ``C`` projects always, ``none`` gives a plain block
with the same node names (so a plain net and its residual twin line up).

Adding a block is adding one `register_block` call in this module (a branch function and its closed form);
`tests/test_blocks.py` builds every entry and checks its closed form against the built module.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction

from engine.core.registry import Registry
from engine.ir.graph import Graph

SHORTCUTS = ("A", "B", "C", "none")


@dataclass
class Layers:
    """Adds conv / BN / ReLU nodes to a graph under one norm setting: without BN a conv carries its own bias
    (the BN shift is what makes the bias redundant)."""

    graph: Graph
    norm: bool = True

    def conv(self, name: str, src: str, out: int, kernel: int, stride: int = 1, role: str = "branch") -> str:
        return self.graph.add(name, "conv2d", src, {"role": role}, out_channels=out, kernel=kernel, stride=stride,
                              bias=not self.norm)

    def bn(self, name: str, src: str, role: str = "branch") -> str:
        return self.graph.add(name, "batchnorm2d", src, {"role": role}) if self.norm else src

    def relu(self, name: str, src: str, role: str = "branch") -> str:
        return self.graph.add(name, "relu", src, {"role": role})

    def conv_bn_relu(self, prefix: str, i: int, src: str, out: int, kernel: int, stride: int, relu: bool = True) -> str:
        """Post-activation unit: conv -> BN -> ReLU (no ReLU on the last unit of a branch)."""
        x = self.bn(f"{prefix}.bn{i}", self.conv(f"{prefix}.conv{i}", src, out, kernel, stride))
        return self.relu(f"{prefix}.relu{i}", x) if relu else x

    def bn_relu_conv(self, prefix: str, i: int, src: str, out: int, kernel: int, stride: int) -> tuple[str, str]:
        """Pre-activation unit: BN -> ReLU -> conv. Returns (the pre-activated input, the conv's output)."""
        act = self.relu(f"{prefix}.relu{i}", self.bn(f"{prefix}.bn{i}", src))
        return act, self.conv(f"{prefix}.conv{i}", act, out, kernel, stride)


# A branch: (layers, block prefix, input, inner width, output channels, stride) ->
# (the input a projection shortcut reads, the branch's last node, the index of its last unit)
Branch = Callable[[Layers, str, str, int, int, int], tuple[str, str, int]]


@dataclass(frozen=True)
class BlockDef:
    name: str
    expansion: int  # output channels = stage width x expansion
    preact: bool  # BN-ReLU-conv order; the sum is not passed through a ReLU
    branch: Branch
    conv_weights: Fraction  # closed form: conv weights per C^2 at C output channels, stride 1
    norm_params: Fraction  # closed form: BN parameters per C (gamma and beta of each BN)
    bias_params: Fraction  # closed form without BN: conv biases per C
    doc: str = ""


BLOCKS: Registry[BlockDef] = Registry("block")


def register_block(block: BlockDef) -> BlockDef:
    return BLOCKS.register(block.name, block)


def get_block(name: str) -> BlockDef:
    return BLOCKS.get(name)


def block_name(kind: str, preact: bool) -> str:
    """The registry entry of a ResNet spec's ``block`` and ``preact`` keys."""
    return f"preact_{kind}" if preact else kind


# ---- the branches ------------------------------------------------------------------------------------------


def _basic(lay: Layers, p: str, x: str, width: int, cout: int, stride: int) -> tuple[str, str, int]:
    y = lay.conv_bn_relu(p, 1, x, width, 3, stride)
    return x, lay.conv_bn_relu(p, 2, y, cout, 3, 1, relu=False), 2


def _bottleneck(lay: Layers, p: str, x: str, width: int, cout: int, stride: int) -> tuple[str, str, int]:
    y = lay.conv_bn_relu(p, 1, x, width, 1, 1)
    y = lay.conv_bn_relu(p, 2, y, width, 3, stride)  # stride on the 3x3 (torchvision, "ResNet v1.5")
    return x, lay.conv_bn_relu(p, 3, y, cout, 1, 1, relu=False), 3


def _preact_basic(lay: Layers, p: str, x: str, width: int, cout: int, stride: int) -> tuple[str, str, int]:
    act, y = lay.bn_relu_conv(p, 1, x, width, 3, stride)
    return act, lay.bn_relu_conv(p, 2, y, cout, 3, 1)[1], 2


def _preact_bottleneck(lay: Layers, p: str, x: str, width: int, cout: int, stride: int) -> tuple[str, str, int]:
    act, y = lay.bn_relu_conv(p, 1, x, width, 1, 1)
    y = lay.bn_relu_conv(p, 2, y, width, 3, stride)[1]
    return act, lay.bn_relu_conv(p, 3, y, cout, 1, 1)[1], 3


# basic at C: 2 x 9 C^2, BN 2 x 2C (or 2 biases of C); bottleneck at C (inner C/4): C^2/4 + 9 C^2/16 + C^2/4,
# BN 2 x 2(C/4) + 2C = 3C (biases C/4 + C/4 + C = 3C/2).
register_block(BlockDef("basic", 1, False, _basic, Fraction(18), Fraction(4), Fraction(2),
                        "two 3x3 convs (He et al. 2016, fig. 5 left)"))
register_block(BlockDef("bottleneck", 4, False, _bottleneck, Fraction(17, 16), Fraction(3), Fraction(3, 2),
                        "1x1 reduce, 3x3, 1x1 expand x4 (He et al. 2016, fig. 5 right)"))
register_block(BlockDef("preact_basic", 1, True, _preact_basic, Fraction(18), Fraction(4), Fraction(2),
                        "two BN-ReLU-3x3 conv units (He et al. 2016b, fig. 4e)"))
register_block(BlockDef("preact_bottleneck", 4, True, _preact_bottleneck, Fraction(17, 16), Fraction(3),
                        Fraction(3, 2), "BN-ReLU-conv 1x1, 3x3, 1x1 x4 (He et al. 2016b)"))


# ---- one whole block: branch, shortcut, merge -------------------------------------------------------------


def shortcut(lay: Layers, prefix: str, src: str, preact_src: str, cin: int, cout: int, stride: int, kind: str,
             preact: bool) -> str | None:
    """The shortcut path's output node, or None for no shortcut (a plain block)."""
    if kind == "none":
        return None
    changes = stride != 1 or cin != cout
    if kind == "C" or (kind == "B" and changes):
        # Pre-activation projections read the normalised input (He et al. 2016b, fig. 1b code).
        x = lay.conv(f"{prefix}.shortcut.conv", preact_src if preact else src, cout, 1, stride, role="shortcut")
        return x if preact else lay.bn(f"{prefix}.shortcut.bn", x, role="shortcut")
    if changes:  # option A, or B where the shape does not change
        return lay.graph.add(f"{prefix}.shortcut", "zeropad_shortcut", src, {"role": "shortcut"},
                             out_channels=cout, stride=stride)
    return src


def build_block(lay: Layers, block: BlockDef, prefix: str, src: str, cin: int, width: int, stride: int, *,
                shortcut_kind: str = "A", zero_init: bool = False) -> tuple[str, int]:
    """Add one block's nodes (inside the graph's current scope); returns (its output node, its channels)."""
    cout = width * block.expansion
    act, branch_end, last = block.branch(lay, prefix, src, width, cout, stride)
    if zero_init:
        # Zero the last BN gamma of the branch (Goyal et al. 2017); without BN (or pre-activation, where the
        # branch ends in a conv) zero the last conv instead, so the block starts as the identity.
        lay.graph.nodes[branch_end].meta["zero_init"] = True
    short = shortcut(lay, prefix, src, act, cin, cout, stride, shortcut_kind, block.preact)
    x = branch_end
    if short is not None:
        x = lay.graph.add(f"{prefix}.add", "add", [branch_end, short], {
            "role": "merge", "input_labels": ["residual branch", "shortcut"],
            "hint": "use shortcut B or C (a projection) or an adapter",
        })
    if not block.preact:
        # The same name with or without a shortcut, so a plain net and its residual twin line up.
        x = lay.relu(f"{prefix}.relu{last}", x, role="merge" if short is not None else "branch")
    return x, cout
