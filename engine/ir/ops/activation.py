"""Element-wise activations: relu, tanh, sigmoid, gelu.

FLOPs: 1 per element each (a convention: transcendental functions have no agreed FLOP cost). Backward:
dY * f'(x): ReLU's mask from its saved output (1 per element); tanh 1 - y^2 and sigmoid y (1 - y) from the
saved output (3 per element); GELU's derivative from the saved input counts 1, as its forward, plus the
product with dY. ReLU is not in place, so hooks and shortcuts see the pre-activation tensor.
"""

from __future__ import annotations

from engine.ir.ops.base import (
    Example,
    OpDef,
    numel,
    per_element,
    register_op,
    same_shape,
    save_input,
    save_output,
    torch_nn,
)
from engine.ir.ops.cost import Backward
from engine.ir.ops.emit import Emitter, fixed

EXAMPLES = (Example(((2, 3, 3),)), Example(((4,),)), Example(((3, 4),)))


def _activation(name: str, cls: str, backward_per_element: int, saves_input: bool, doc: str) -> OpDef:
    return register_op(OpDef(
        name, "act", same_shape, flops=per_element(1), module=lambda ins, a: torch_nn(cls), doc=doc,
        backward=lambda ins, out, a: Backward(input_flops=backward_per_element * numel(out)),
        saved=save_input if saves_input else save_output, emitter=Emitter(fixed(f"nn.{cls}()")),
        examples=EXAMPLES,
    ))


_activation("relu", "ReLU", 1, False, "ReLU (not in place, so hooks and shortcuts see the pre-activation tensor)")
_activation("tanh", "Tanh", 3, False, "element-wise tanh")
_activation("sigmoid", "Sigmoid", 3, False, "element-wise sigmoid")
_activation("gelu", "GELU", 2, True, "element-wise gelu (exact erf form)")
