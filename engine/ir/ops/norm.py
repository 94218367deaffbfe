"""Normalisation: batchnorm2d (images), batchnorm1d (vectors), layernorm (the last dimension).

FLOPs: BatchNorm in eval folds to a scale and a shift, 2 per element; LayerNorm computes its statistics in
every mode, 5 per element (mean, variance, normalise, scale, shift). Gamma and beta are parameters, running
statistics buffers. Backward (Ioffe & Szegedy 2015, sec. 3): the channel sums d(beta) = sum dY and
d(gamma) = sum dY * xhat, with xhat recomputed from the saved mean and 1/std (2 + 3 per element), then
dX = gamma / std * (dY - d(beta) / N - xhat * d(gamma) / N) (4 per element; LayerNorm one more multiply
by gamma). Saved (measured with saved_tensors_hooks, torch 2.13 CPU): the input and a float32 mean and 1/std
per channel (BatchNorm) or per row (LayerNorm).
"""

from __future__ import annotations

from typing import Any

from engine.ir.ops.attribution import fvcore_per_element, torchinfo_params_once
from engine.ir.ops.base import Example, OpDef, Shape, numel, per_element, register_op, torch_nn
from engine.ir.ops.cost import Backward, Saved
from engine.ir.ops.emit import Emitter
from engine.ir.ops.formulas import need_rank

Args = dict[str, Any]
GAMMA_BETA = torchinfo_params_once("norm gamma and beta, once per sample")


def bn_backward(ins: list[Shape], out: Shape, args: Args) -> Backward:
    return Backward(input_flops=4 * numel(out), weight_flops=5 * numel(out))


def bn_saved(ins: list[Shape], out: Shape, args: Args) -> Saved:
    # native_batch_norm saves its input and the batch mean and 1/std per channel (float32); weight and
    # running statistics are parameters and buffers, counted with the model.
    return Saved(inputs=(0,), fixed_bytes=2 * ins[0][0] * 4)


def _ranked(ranks: tuple[int, ...], what: str):  # noqa: ANN202 - a shape rule factory
    def shape(node: str, ins: list[Shape], args: Args, meta: dict[str, Any]) -> Shape:
        need_rank(node, ins[0], ranks, what)
        return ins[0]

    return shape


register_op(OpDef(
    "batchnorm2d", "norm", _ranked((3,), "an image [C, H, W]"), params=lambda ins, a: 2 * ins[0][0],
    flops=per_element(2), module=lambda ins, a: torch_nn("BatchNorm2d", ins[0][0]),
    doc="BatchNorm over channels (gamma and beta are parameters; running stats are buffers)",
    backward=bn_backward, saved=bn_saved,
    emitter=Emitter(lambda ins, a: f"nn.BatchNorm2d({ins[0][0]})"),
    fvcore=fvcore_per_element(2, "BN (eval)"), torchinfo=GAMMA_BETA,
    examples=(Example(((4, 5, 3),)), Example(((2, 1, 1),))),
))
register_op(OpDef(
    "batchnorm1d", "norm", _ranked((1,), "vectors [F]"), params=lambda ins, a: 2 * ins[0][0],
    flops=per_element(2), module=lambda ins, a: torch_nn("BatchNorm1d", ins[0][0]),
    doc="BatchNorm over the features of vectors", backward=bn_backward, saved=bn_saved,
    emitter=Emitter(lambda ins, a: f"nn.BatchNorm1d({ins[0][0]})"),
    fvcore=fvcore_per_element(2, "BN (eval)"), torchinfo=GAMMA_BETA,
    examples=(Example(((6,),)),),
))
register_op(OpDef(
    "layernorm", "norm", _ranked((1, 2), "vectors [F] or tokens [L, D]"), params=lambda ins, a: 2 * ins[0][-1],
    flops=per_element(5), module=lambda ins, a: torch_nn("LayerNorm", ins[0][-1]),
    doc="LayerNorm over the last dimension (Ba et al. 2016)",
    backward=lambda ins, out, a: Backward(input_flops=5 * numel(out), weight_flops=5 * numel(out)),
    saved=lambda ins, out, a: Saved(inputs=(0,), extra_bytes=2 * 4 * (numel(out) // out[-1])),
    emitter=Emitter(lambda ins, a: f"nn.LayerNorm({ins[0][-1]})"),
    fvcore=fvcore_per_element(5, "LayerNorm"), torchinfo=GAMMA_BETA,
    examples=(Example(((5, 6),)), Example(((7,),))),
))
