"""Regularisation: dropout (identity in eval). In training, CPU dropout saves its scaled noise tensor (the
compute dtype; CUDA's fused kernel saves a bool mask): ``extra`` = one element per output element; its
backward multiplies dY by it (1 per element)."""

from __future__ import annotations

from engine.ir.ops.base import Arg, Example, OpDef, numel, register_op, same_shape, torch_nn
from engine.ir.ops.cost import Backward, Saved
from engine.ir.ops.emit import Emitter

register_op(OpDef(
    "dropout", "reg", same_shape, module=lambda ins, a: torch_nn("Dropout", a["p"]),
    args={"p": Arg(0.5, float, "prob")}, doc="dropout (identity in eval)",
    backward=lambda ins, out, a: Backward(input_flops=numel(out)),
    saved=lambda ins, out, a: Saved(extra=numel(out)),
    emitter=Emitter(lambda ins, a: f"nn.Dropout(p={a['p']!r})"),
    examples=(Example(((4, 3, 3),)), Example(((6,),), {"p": 0.25})),
))
