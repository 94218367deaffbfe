"""Merges, where paths join: add (a residual merge), concat (channels, a dense merge), concat_last (the last
dimension, for token features) and highway (y = h*t + x*(1-t), Srivastava et al. 2015, eq. 3).

FLOPs: add (n - 1) per element; highway 4 per element; concatenations move data, 0. Backward: every summand
of an add receives dY itself and a concat slices dY back into its parts (views): nothing computed or saved;
the highway merge computes dh = dy t, dx = dy (1 - t), dt = dy h - dy x and the sum of t's two gradients
(6 per element) and saves h, t, x and (1 - t). These ops have no module: fvcore reports them at the top
level, by the aten calls ``fvcore_aten`` names.
"""

from __future__ import annotations

from typing import Any

from engine.core.errors import ShapeError
from engine.core.text import fmt_shape
from engine.ir.ops.base import Example, OpDef, Shape, no_backward, nothing_saved, numel, per_element, register_op
from engine.ir.ops.cost import Backward, Saved
from engine.ir.ops.emit import Emitter

Args = dict[str, Any]
MODULES = "engine.ir.ops.modules"


def input_labels(meta: dict[str, Any], n: int, defaults: tuple[str, ...] = ()) -> list[str]:
    """What each input of a merge is (meta["input_labels"], then `defaults`, then "input i"), for errors."""
    labels = list(meta.get("input_labels", []))
    labels += list(defaults[len(labels):])
    return labels + [f"input {i}" for i in range(len(labels), n)]


def _add_shape(node: str, ins: list[Shape], args: Args, meta: dict[str, Any]) -> Shape:
    labels = input_labels(meta, len(ins))
    for shape, label in zip(ins[1:], labels[1:], strict=False):
        if shape != ins[0]:
            raise ShapeError(
                node, f"cannot add {fmt_shape(ins[0])} ({labels[0]}) to {fmt_shape(shape)} ({label})",
                expected=ins[0], received=shape, hint=meta.get("hint", "insert a projection adapter or use concat"),
            )
    return ins[0]


register_op(OpDef(
    "add", "merge", _add_shape, flops=lambda ins, out, a: (len(ins) - 1) * numel(out),
    function="operator:add", min_inputs=2, max_inputs=None, doc="element-wise sum (a residual merge)",
    backward=no_backward, saved=nothing_saved,
    emitter=Emitter(call=lambda attr, inputs, a: " + ".join(inputs)), fvcore_aten={"aten::add": -1},
    examples=(Example(((4, 3, 3), (4, 3, 3))), Example(((5,), (5,), (5,)))),
))


def _concat_shape(node: str, ins: list[Shape], args: Args, meta: dict[str, Any]) -> Shape:
    labels = input_labels(meta, len(ins))
    first = ins[0]
    for shape, label in zip(ins[1:], labels[1:], strict=False):
        if len(shape) != len(first) or shape[1:] != first[1:]:
            raise ShapeError(
                node, f"cannot concatenate {fmt_shape(shape)} ({label}) onto {fmt_shape(first)} ({labels[0]}): "
                "all but the channel dimension must match", expected=first, received=shape,
                hint=meta.get("hint", "insert a pool adapter to match the spatial size"),
            )
    return (sum(s[0] for s in ins), *first[1:])


register_op(OpDef(
    "concat", "merge", _concat_shape, function=f"{MODULES}:concat_channels", min_inputs=2, max_inputs=None,
    doc="concatenation along channels (a dense merge)", backward=no_backward, saved=nothing_saved,
    emitter=Emitter(call=lambda attr, inputs, a: f"torch.cat([{', '.join(inputs)}], dim=1)"),
    fvcore_aten={"aten::cat": 1},
    examples=(Example(((2, 3, 3), (3, 3, 3))), Example(((4, 2, 2), (4, 2, 2))), Example(((4,), (2,), (1,)))),
))


def _concat_last_shape(node: str, ins: list[Shape], args: Args, meta: dict[str, Any]) -> Shape:
    first = ins[0]
    for shape in ins[1:]:
        if len(shape) != len(first) or shape[:-1] != first[:-1]:
            raise ShapeError(node, f"cannot concatenate {fmt_shape(shape)} onto {fmt_shape(first)}: all but the "
                                   "last dimension must match", expected=first, received=shape,
                             hint=meta.get("hint", "use a projection adapter"))
    return (*first[:-1], sum(s[-1] for s in ins))


register_op(OpDef(
    "concat_last", "merge", _concat_last_shape, function=f"{MODULES}:concat_last", min_inputs=2, max_inputs=None,
    doc="concatenation along the last dimension (features of token sequences)",
    backward=no_backward, saved=nothing_saved,
    emitter=Emitter(call=lambda attr, inputs, a: f"torch.cat([{', '.join(inputs)}], dim=-1)"),
    fvcore_aten={"aten::cat": 1},
    examples=(Example(((3, 4), (3, 2))), Example(((3, 4), (3, 4)))),
))


def _highway_shape(node: str, ins: list[Shape], args: Args, meta: dict[str, Any]) -> Shape:
    labels = input_labels(meta, len(ins), ("transform h", "gate t", "carry x"))
    for shape, label in zip(ins[1:], labels[1:], strict=False):
        if shape != ins[0]:
            raise ShapeError(node, f"cannot gate {fmt_shape(ins[0])} ({labels[0]}) with {fmt_shape(shape)} ({label})",
                             expected=ins[0], received=shape,
                             hint=meta.get("hint", "all three inputs of a highway merge need the same shape"))
    return ins[0]


def _highway_call(attr: str, inputs: list[str], a: Args) -> str:
    h, t, x = inputs
    return f"{h} * {t} + {x} * (1 - {t})"  # Srivastava et al. 2015, eq. 3


register_op(OpDef(
    "highway", "merge", _highway_shape, flops=per_element(4), function=f"{MODULES}:highway_merge",
    min_inputs=3, max_inputs=3, doc="highway merge of (h, t, x): y = h*t + x*(1-t)",
    backward=lambda ins, out, a: Backward(input_flops=6 * numel(out)),
    saved=lambda ins, out, a: Saved(inputs=(0, 1, 2), extra=numel(out)),
    emitter=Emitter(call=_highway_call), fvcore_aten={"aten::mul": 2, "aten::rsub": 1, "aten::add": 1},
    examples=(Example(((6,), (6,), (6,))), Example(((2, 3, 3), (2, 3, 3), (2, 3, 3)))),
))
