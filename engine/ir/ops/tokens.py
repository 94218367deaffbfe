"""Token models: embedding (ids [L] -> [L, D]), pos_embedding (adds a learned [L, D]), self_attention (over
packed q, k, v, no parameters) and mean_tokens ([L, D] -> [D]).

Counts: embeddings move data (0), the position embedding adds 1 per element. Attention's QK^T and AV are
matmuls, L * L * d MACs each (d = d_model, summed over heads); the scale, exp, sum and divide of the softmax
add 4 FLOPs per score; the q/k/v and output projections are separate ``linear`` nodes. mean_tokens counts as
global_avgpool. Backward: the embedding's dW scatters each row of dY into the table (1 add per element) and
saves the int64 ids; the position embedding's dW sums dY over the batch (1 per element); attention's backward
is four matmuls of L * L * d (dP = dO V^T, dV = P^T dO, dQ = dS K, dK = dS^T Q: twice its forward MACs) plus
4 per score, and it saves contiguous copies of q, k, v (3 L d) and the probabilities (H L^2), plus a causal
bool mask; the token mean saves nothing.
"""

from __future__ import annotations

from typing import Any

from engine.core.errors import ShapeError
from engine.ir.ops.base import (
    Arg,
    Example,
    OpDef,
    Shape,
    helper,
    nothing_saved,
    numel,
    per_element,
    register_op,
    save_input,
    torch_nn,
)
from engine.ir.ops.cost import Backward, Saved
from engine.ir.ops.emit import Emitter, own
from engine.ir.ops.formulas import need_rank

Args = dict[str, Any]


def _embedding_shape(node: str, ins: list[Shape], args: Args, meta: dict[str, Any]) -> Shape:
    need_rank(node, ins[0], (1,), "token ids [L]")
    return (ins[0][0], args["dim"])


register_op(OpDef(
    "embedding", "embed", _embedding_shape, params=lambda ins, a: a["num_embeddings"] * a["dim"],
    module=lambda ins, a: torch_nn("Embedding", a["num_embeddings"], a["dim"]),
    args={"num_embeddings": Arg(check="positive", doc="vocabulary size"),
          "dim": Arg(check="positive", doc="embedding width")},
    doc="token embedding: ids [L] -> [L, dim]",
    backward=lambda ins, out, a: Backward(weight_flops=numel(out)), saved=save_input,
    emitter=Emitter(lambda ins, a: f"nn.Embedding({a['num_embeddings']}, {a['dim']})"),
    examples=(Example(((9,),), {"num_embeddings": 11, "dim": 4}, vocab=11),),
))


def _tokens_shape(node: str, ins: list[Shape], args: Args, meta: dict[str, Any]) -> Shape:
    need_rank(node, ins[0], (2,), "tokens [L, D]")
    return ins[0]


register_op(OpDef(
    "pos_embedding", "embed", _tokens_shape, params=lambda ins, a: numel(ins[0]), flops=per_element(1),
    module=lambda ins, a: helper("LearnedPositions", *ins[0]), doc="adds a learned [L, D] position embedding",
    backward=lambda ins, out, a: Backward(weight_flops=numel(out)), saved=nothing_saved,
    emitter=Emitter(lambda ins, a: f"LearnedPositions({ins[0][0]}, {ins[0][1]})", helpers=own("LearnedPositions")),
    examples=(Example(((9, 4),)),),
))


def _attention_shape(node: str, ins: list[Shape], args: Args, meta: dict[str, Any]) -> Shape:
    (x,) = ins
    need_rank(node, x, (2,), "packed q, k, v [L, 3D]")
    if x[1] % 3 or (x[1] // 3) % args["heads"]:
        raise ShapeError(node, f"packed q, k, v of width {x[1]} do not split into 3 x {args['heads']} heads",
                         expected=f"a width divisible by {3 * args['heads']}", received=x[1],
                         hint="make d_model a multiple of heads")
    return (x[0], x[1] // 3)


register_op(OpDef(
    "self_attention", "attention", _attention_shape,
    macs=lambda ins, out, a: 2 * out[0] * out[0] * out[1],
    flops=lambda ins, out, a: 4 * a["heads"] * out[0] * out[0],
    module=lambda ins, a: helper("SelfAttention", a["heads"], a["causal"]),
    args={"heads": Arg(check="positive", doc="attention heads"), "causal": Arg(False, bool)},
    doc="multi-head scaled dot-product self-attention over packed q, k, v (no parameters)",
    backward=lambda ins, out, a: Backward(input_macs=4 * out[0] * out[0] * out[1],
                                          input_flops=4 * a["heads"] * out[0] * out[0]),
    saved=lambda ins, out, a: Saved(extra=3 * out[0] * out[1] + a["heads"] * out[0] * out[0],
                                    fixed_bytes=out[0] * out[0] if a["causal"] else 0),
    emitter=Emitter(lambda ins, a: f"SelfAttention(heads={a['heads']}, causal={a['causal']})",
                    helpers=own("SelfAttention")),
    examples=(Example(((5, 12),), {"heads": 2}), Example(((4, 6),), {"heads": 1, "causal": True})),
))


def _mean_tokens_shape(node: str, ins: list[Shape], args: Args, meta: dict[str, Any]) -> Shape:
    need_rank(node, ins[0], (2,), "tokens [L, D]")
    return ins[0][1:]


register_op(OpDef(
    "mean_tokens", "pool", _mean_tokens_shape, flops=lambda ins, out, a: numel(ins[0]) + numel(out),
    function="engine.ir.ops.modules:mean_tokens", doc="mean over the tokens: [L, D] -> [D]",
    backward=lambda ins, out, a: Backward(input_flops=numel(ins[0])), saved=nothing_saved,
    emitter=Emitter(call=lambda attr, inputs, a: f"{inputs[0]}.mean(dim=1)"), fvcore_aten={"aten::mean": 1},
    examples=(Example(((5, 3),)),),
))
