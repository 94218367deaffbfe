"""What each counting library counts for one node of our IR, predicted from our own per-node numbers.

`engine.analysis.crosscheck` runs the libraries and compares their per-module counts with these predictions, so
every difference between a library and SkipLab is explained by a named rule (or flagged). The rules
follow each library's source (torch 2.13, fvcore 0.1.5, torchinfo 1.8):

- fvcore ``FlopCountAnalysis`` (jit_handles.py): one fused multiply-add = one flop for conv (also
  transposed, at input positions), addmm / linear / matmul / bmm / einsum; ``batch_norm`` 2 per element in
  eval (1 without affine; 5 / 4 in training), ``layer_norm`` / ``group_norm`` 5 per element (4 without
  affine), ``instance_norm`` likewise, ``adaptive_avg_pool2d`` 1 per input element, ``upsample_nearest2d``
  1 and ``upsample_bilinear2d`` 4 per output element. Ops without a handle are skipped: silently when
  listed in its ``_IGNORED_OPS`` (relu, cat, flatten, slice, dropout ...), with a warning otherwise
  (max_pool2d, avg_pool2d, add, pad, sigmoid, softmax, mul ...).
- ``torch.utils.flop_counter.FlopCounterMode``: 2 FLOPs per MAC of convolution, mm / addmm / bmm /
  baddbmm and scaled-dot-product attention, nothing else. Backward: ``convolution_backward`` counts the
  input gradient (when asked for) and the weight gradient, each the forward's size, except that its
  weight-gradient formula uses all input channels, so a grouped conv's weight gradient is counted
  ``groups`` times; the linear backward is two ``mm``.
- torchinfo (layer_info.py ``calculate_macs``): per leaf module with parameters, a class whose name
  contains "Conv" counts every parameter (weight and bias) once per output position; any other class
  counts its parameters once per sample (BN gamma and beta, a linear's weight and bias). Parameter-free
  modules and functions count 0. A transposed conv's MACs are at input positions, so torchinfo counts
  it stride^2 times too much (4x for the U-Net's 2x2 stride-2 up-convs).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

from torch import nn

from engine.analysis import NodeRow

MACS = "MACs (conv, linear, matmul)"


@dataclass(frozen=True)
class Part:
    """One labelled part of a tool's predicted count for one node."""

    label: str
    value: int


def _spatial(row: NodeRow) -> int:
    return math.prod(row.out_shape[1:]) if len(row.out_shape) > 1 else 1


def _numel_in(row: NodeRow, in_shapes: list[list[int]]) -> int:
    return math.prod(in_shapes[0]) if in_shapes else 0


# fvcore: extra handles by module class name -> (label, count from our shapes). MACs come on top for all.
def _fv_norm(per_elem_affine: int, label: str) -> Callable[[NodeRow, nn.Module | None, list], Part]:
    def rule(row: NodeRow, module: nn.Module | None, ins: list) -> Part:
        affine = getattr(module, "affine", None) or getattr(module, "elementwise_affine", False)
        per = per_elem_affine if affine else per_elem_affine - 1
        return Part(f"{label} {per}/element", per * math.prod(row.out_shape))
    return rule


def _fv_upsample(row: NodeRow, module: nn.Module | None, ins: list) -> Part:
    per = 4 if getattr(module, "mode", "nearest") == "bilinear" else 1
    return Part(f"upsample ({getattr(module, 'mode', 'nearest')}) {per}/output element",
                per * math.prod(row.out_shape))


FVCORE_EXTRA: dict[str, Callable[[NodeRow, nn.Module | None, list], Part]] = {
    # eval mode: BN folds to a scale and a shift (fvcore batchnorm_flop_jit)
    "BatchNorm1d": _fv_norm(2, "BN (eval)"), "BatchNorm2d": _fv_norm(2, "BN (eval)"),
    "BatchNorm3d": _fv_norm(2, "BN (eval)"),
    "LayerNorm": _fv_norm(5, "LayerNorm"), "GroupNorm": _fv_norm(5, "GroupNorm"),
    "InstanceNorm2d": _fv_norm(5, "InstanceNorm"),
    "AdaptiveAvgPool2d": lambda row, m, ins: Part("adaptive avgpool 1/input element", _numel_in(row, ins)),
    "Upsample": _fv_upsample,
}


def fvcore_parts(row: NodeRow, module: nn.Module | None, ins: list[list[int]]) -> list[Part]:
    """fvcore's count for this node at batch 1 (eval mode), as labelled parts."""
    parts = [Part(MACS, row.macs)] if row.macs else []
    rule = FVCORE_EXTRA.get(type(module).__name__) if module is not None else None
    if rule is not None:
        parts.append(rule(row, module, ins))
    return parts


def flop_counter_parts(row: NodeRow, args: dict, backward: bool) -> list[Part]:
    """FlopCounterMode's count: 2 per MAC of the forward (and of the backward products when asked)."""
    parts = [Part("2 x MACs (forward)", 2 * row.macs)] if row.macs else []
    if backward and row.backward_macs:
        parts.append(Part("2 x MACs (backward: dX and dW)", 2 * row.backward_macs))
        groups = int(args.get("groups", 1) or 1)
        if row.kind == "conv" and groups > 1:
            # flop_counter's conv_backward_flop multiplies by all C_in for dW: groups x the true products
            # (a conv's dW costs its forward MACs).
            parts.append(Part("grouped-conv dW counted x groups by flop_counter", 2 * row.macs * (groups - 1)))
    return parts


def torchinfo_parts(row: NodeRow, module: nn.Module | None) -> list[Part]:
    """torchinfo's "mult-adds" for this node at batch 1, as labelled parts."""
    if module is None or row.params == 0:
        if not row.macs:
            return []
        return [Part(MACS, row.macs), Part("parameter-free products (attention), not counted", -row.macs)]
    if "Conv" in type(module).__name__:
        bias = module.bias.numel() if getattr(module, "bias", None) is not None else 0
        weights_at_output = (row.params - bias) * _spatial(row)
        parts = [Part(MACS, row.macs)]
        if bias:
            parts.append(Part("conv bias, 1 per output element", bias * _spatial(row)))
        if weights_at_output != row.macs:
            parts.append(Part(f"{type(module).__name__}: weights x output (not input) positions",
                              weights_at_output - row.macs))
        return parts
    if row.kind == "norm":
        label = "norm gamma and beta, once per sample"
    elif len(row.out_shape) == 1 and row.params - row.macs == row.out_shape[0]:
        label = f"{row.op} bias, once per sample"  # a linear (or gate) on vectors: params = MACs + bias
    else:  # tokens [L, D], embeddings, gates: torchinfo counts the parameters once, not per position
        label = f"{row.op}: parameters once per sample (not per position), minus MACs"
    parts = [Part(MACS, row.macs)] if row.macs else []
    if row.params != row.macs:
        parts.append(Part(label, row.params - row.macs))
    return parts
