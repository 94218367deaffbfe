"""Fully connected layers: linear over the last dimension.

MACs: every output element is a dot product over the input features (numel(out) * F_in); a bias adds 1
FLOP per output element. Backward: dX = dY W^T and dW = X^T dY, one product of the forward's size each,
the bias gradient sums dY; the input is saved.
"""

from __future__ import annotations

from typing import Any

from engine.core.errors import ShapeError
from engine.ir.ops.base import Arg, Example, OpDef, Shape, bias_flops, numel, register_op, save_input, torch_nn
from engine.ir.ops.cost import weighted_backward
from engine.ir.ops.emit import Emitter, kw_args

Args = dict[str, Any]


def _shape(node: str, ins: list[Shape], args: Args, meta: dict[str, Any]) -> Shape:
    (x,) = ins
    if len(x) < 1:
        raise ShapeError(node, "expects at least one feature dimension", received=x)
    return (*x[:-1], args["out_features"])


def _macs(ins: list[Shape], out: Shape, args: Args) -> int:
    return numel(out) * ins[0][-1]


def _text(ins: list[Shape], a: Args) -> str:
    return f"nn.Linear({', '.join([str(ins[0][-1]), str(a['out_features'])] + kw_args([('bias', a['bias'], True)]))})"


register_op(OpDef(
    "linear", "linear", _shape,
    params=lambda ins, a: ins[0][-1] * a["out_features"] + (a["out_features"] if a["bias"] else 0),
    macs=_macs, flops=bias_flops,
    module=lambda ins, a: torch_nn("Linear", ins[0][-1], a["out_features"], bias=a["bias"]),
    args={"out_features": Arg(check="positive", doc="output features"), "bias": Arg(True, bool)},
    doc="fully connected layer over the last dimension",
    backward=lambda ins, out, a: weighted_backward(out, a, _macs(ins, out, a)), saved=save_input,
    emitter=Emitter(_text),
    examples=(Example(((6,),), {"out_features": 4}), Example(((5, 8),), {"out_features": 3, "bias": False})),
))
