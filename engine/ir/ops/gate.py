"""The transform gate T(x) = sigmoid(W x + b) of a highway merge (Srivastava et al. 2015): a linear over the
last dim, or a 1x1 conv over the channels of images (`engine.ir.ops.modules.SigmoidGate`).

MACs as a linear (numel(out) * C_in); its bias and its sigmoid add 1 FLOP each per output element.
Backward: the linear's dX and dW (+ the bias sum), then the sigmoid's derivative from its saved output
(3 per element); it saves its input and its output.
"""

from __future__ import annotations

from typing import Any

from engine.ir.ops.base import Arg, Example, OpDef, Shape, channels, helper, numel, per_element, register_op
from engine.ir.ops.cost import Backward, Saved
from engine.ir.ops.emit import Emitter, own
from engine.ir.ops.formulas import need_rank

Args = dict[str, Any]


def _shape(node: str, ins: list[Shape], args: Args, meta: dict[str, Any]) -> Shape:
    (x,) = ins
    need_rank(node, x, (1, 2, 3), "vectors [F], tokens [L, D] or an image [C, H, W]")
    return (args["out_features"], *x[1:]) if len(x) == 3 else (*x[:-1], args["out_features"])


def _macs(ins: list[Shape], out: Shape, args: Args) -> int:
    return numel(out) * channels(ins[0])


register_op(OpDef(
    "gate", "gate", _shape, params=lambda ins, a: (channels(ins[0]) + 1) * a["out_features"],
    macs=_macs, flops=per_element(2),
    module=lambda ins, a: helper("SigmoidGate", channels(ins[0]), a["out_features"], a["bias_init"]),
    args={"out_features": Arg(check="positive", doc="gate width = the merged tensor's channels"),
          "bias_init": Arg(-2.0, float, doc="initial gate bias; negative favours carrying the input")},
    doc="sigmoid transform gate T(x) of a highway merge",
    backward=lambda ins, out, a: Backward(input_macs=_macs(ins, out, a), weight_macs=_macs(ins, out, a),
                                          input_flops=3 * numel(out), weight_flops=numel(out)),
    saved=lambda ins, out, a: Saved(inputs=(0,), output=True),
    emitter=Emitter(lambda ins, a: f"SigmoidGate({channels(ins[0])}, {a['out_features']}, "
                                   f"bias_init={a['bias_init']!r})", helpers=own("SigmoidGate")),
    examples=(Example(((6,),), {"out_features": 4}), Example(((3, 4, 4),), {"out_features": 5}),
              Example(((7, 3),), {"out_features": 2, "bias_init": 1.0})),
))
