"""What each counting library counts for one node of our IR, predicted from our own per-node numbers by the
rules of the node's op (`OpDef.fvcore`, `OpDef.torchinfo`, `OpDef.flop_counter`; what each library counts
and why is documented once, in `engine.ir.ops.attribution`).

`engine.analysis.crosscheck` runs the libraries and compares their per-module counts with these predictions, so
every difference between a library and SkipLab is explained by a named rule (or flagged).
"""

from __future__ import annotations

from engine.analysis import NodeRow
from engine.ir.ops import MACS, Cost, Part, get_op

__all__ = ["MACS", "Part", "cost_of", "flop_counter_parts", "fvcore_parts", "torchinfo_parts"]

Shapes = list[list[int]]


def cost_of(row: NodeRow, ins: Shapes, args: dict) -> Cost:
    """The node at batch 1 as the op's attribution rules see it."""
    return Cost(row.op, [tuple(s) for s in ins], tuple(row.out_shape), args, row.params, row.macs)


def fvcore_parts(row: NodeRow, ins: Shapes, args: dict) -> list[Part]:
    """fvcore's count for this node at batch 1 (eval mode): our MACs, plus what its extra handles count."""
    parts = [Part(MACS, row.macs)] if row.macs else []
    rule = get_op(row.op).fvcore
    if rule is not None:
        parts.extend(rule(cost_of(row, ins, args)))
    return parts


def flop_counter_parts(row: NodeRow, ins: Shapes, args: dict, backward: bool) -> list[Part]:
    """FlopCounterMode's count: 2 per MAC of the forward (and of the backward products when asked), plus the
    op's own rule for the backward (a grouped conv's weight gradient)."""
    parts = [Part("2 x MACs (forward)", 2 * row.macs)] if row.macs else []
    if backward and row.backward_macs:
        parts.append(Part("2 x MACs (backward: dX and dW)", 2 * row.backward_macs))
        rule = get_op(row.op).flop_counter
        if rule is not None:
            parts.extend(rule(cost_of(row, ins, args)))
    return parts


def torchinfo_parts(row: NodeRow, ins: Shapes, args: dict) -> list[Part]:
    """torchinfo's "mult-adds" for this node at batch 1, as labelled parts (0 for module-less ops)."""
    op = get_op(row.op)
    if op.module is None:
        return [Part(MACS, row.macs), Part("parameter-free products (attention), not counted", -row.macs)] \
            if row.macs else []
    return op.torchinfo(cost_of(row, ins, args))
