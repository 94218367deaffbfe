"""Training-cost rules of the op registry: what each op's backward pass computes and which tensors
autograd keeps for it. Each op may set `OpDef.backward` and `OpDef.saved`; ops that do not get the
generic fallbacks below, so ops registered elsewhere always count.

- ``backward``: the multiply-accumulates and element-wise FLOPs of the gradient w.r.t. the op's inputs
  and w.r.t. its weights, kept apart because autograd skips the input gradient where no input needs one
  (the first conv of a net reads the data, so it only computes its weight gradient). For conv and
  linear, each gradient is one more product of the forward's size (dX = dY W^T, dW = X^T dY), which is
  how torch.utils.flop_counter counts ``convolution_backward`` and ``mm``.
- ``saved``: the tensors autograd keeps for the backward pass (which inputs, whether the output, and
  extra buffers such as max-pool indices), so `engine.analysis` can deduplicate tensors that several
  ops save (a ReLU's output is also the next conv's input). ``view`` marks ops whose output aliases
  their first input (flatten, identity): no new memory.

Costs that belong to the graph rather than to one op (the gradient sum where a tensor feeds several
consumers, which ops need an input gradient at all) are added by `engine.analysis`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from engine.ir.ops.base import OpDef, Shape


@dataclass(frozen=True)
class Backward:
    """The backward cost of one op at batch 1: MACs and element-wise FLOPs of each gradient.

    Backward FLOPs = 2 * (input_macs + weight_macs) + input_flops + weight_flops, where the input terms
    count only when some input of the op needs a gradient (see `engine.analysis`).
    """

    input_macs: int = 0  # dL/dX products (conv: a transposed conv of the forward's size)
    weight_macs: int = 0  # dL/dW products (conv: a correlation of X with dY, the forward's size)
    input_flops: int = 0  # element-wise work of dL/dX (ReLU mask, BN normalisation, pool scatter)
    weight_flops: int = 0  # element-wise work of dL/dW (bias sums, BN gamma/beta sums)


@dataclass(frozen=True)
class Saved:
    """What autograd keeps for the backward pass of one op, at batch 1 (excluding parameters).

    ``inputs`` and ``output`` name tensors another op may also save (deduplicated by the analysis);
    ``extra`` counts elements of the compute dtype per sample, ``extra_bytes`` dtype-independent bytes
    per sample (int64 indices, bool masks) and ``fixed_bytes`` bytes that do not grow with the batch
    (per-channel statistics).
    """

    inputs: tuple[int, ...] = ()
    output: bool = False
    extra: int = 0
    extra_bytes: int = 0
    fixed_bytes: int = 0


def backward_of(op: OpDef, ins: list[Shape], out: Shape, args: dict[str, Any]) -> Backward:
    """The op's backward rule, or the generic fallback for ops that define none: the input gradient
    costs what the forward costs (its MACs and its element-wise FLOPs) and, for ops with parameters,
    the weight gradient costs the forward's MACs again. This is the textbook "backward = 2 x forward"
    for layers with weights (exact for conv, transposed conv and linear) and 1 x for the rest."""
    if op.backward is not None:
        return op.backward(ins, out, args)
    macs = op.macs(ins, out, args)
    return Backward(input_macs=macs, weight_macs=macs if op.params(ins, args) else 0,
                    input_flops=op.flops(ins, out, args))


def saved_of(op: OpDef, ins: list[Shape], out: Shape, args: dict[str, Any]) -> Saved:
    """The op's saved-tensor rule, or the generic fallback: every input is saved (what a differentiable
    op whose gradient depends on its inputs does: conv, linear, matmul, norms, pools); view ops save
    nothing."""
    if op.saved is not None:
        return op.saved(ins, out, args)
    return Saved() if op.view else Saved(inputs=tuple(range(len(ins))))


def weighted_backward(out: tuple[int, ...], args: dict[str, Any], macs: int) -> Backward:
    """Conv / linear: dX and dW each cost the forward's products; the bias gradient sums dY over every
    output position (1 add per output element)."""
    return Backward(input_macs=macs, weight_macs=macs,
                    weight_flops=math.prod(out) if args.get("bias") else 0)
