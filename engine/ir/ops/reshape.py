"""Layout-only ops: flatten (everything but the batch dimension). Its output is a view of its input: no
FLOPs, no new memory, nothing saved."""

from __future__ import annotations

from engine.ir.ops.base import Example, OpDef, no_backward, nothing_saved, numel, register_op, torch_nn
from engine.ir.ops.emit import Emitter, fixed

register_op(OpDef(
    "flatten", "reshape", lambda node, ins, a, m: (numel(ins[0]),), module=lambda ins, a: torch_nn("Flatten", 1),
    doc="flattens everything but the batch dimension", backward=no_backward, saved=nothing_saved, view=True,
    emitter=Emitter(fixed("nn.Flatten(1)")), examples=(Example(((3, 2, 2),)), Example(((4, 3),))),
))
