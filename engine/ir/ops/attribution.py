"""What each counting library counts for one op, predicted from our own numbers: the attribution part of an
op's definition (`OpDef.fvcore`, `OpDef.fvcore_aten`, `OpDef.torchinfo`, `OpDef.flop_counter`).

`engine.analysis.crosscheck` runs the libraries and compares their per-module counts with these predictions,
so every difference between a library and SkipLab is explained by a named rule (or flagged). The rules
follow each library's source (torch 2.13, fvcore 0.1.5, torchinfo 1.8):

- fvcore ``FlopCountAnalysis`` (jit_handles.py): one fused multiply-add = one flop for conv (also
  transposed, at input positions), addmm / linear / matmul / bmm / einsum; ``batch_norm`` 2 per element in
  eval (1 without affine; 5 / 4 in training), ``layer_norm`` / ``group_norm`` 5 per element (4 without
  affine), ``adaptive_avg_pool2d`` 1 per input element, ``upsample_nearest2d`` 1 and
  ``upsample_bilinear2d`` 4 per output element: an op's ``fvcore`` rule gives these extra parts. Ops
  without a handle are skipped: silently when listed in its ``_IGNORED_OPS`` (relu, cat, flatten, slice,
  dropout ...), with a warning otherwise (max_pool2d, avg_pool2d, add, pad, sigmoid, softmax, mul ...).
  fvcore reports the skips of module-less ops at the top level; ``fvcore_aten`` names the aten calls each
  such op makes, so the cross-check can attribute them to its nodes.
- ``torch.utils.flop_counter.FlopCounterMode``: 2 FLOPs per MAC of convolution, mm / addmm / bmm /
  baddbmm and scaled-dot-product attention, nothing else. Backward: ``convolution_backward`` counts the
  input gradient (when asked for) and the weight gradient, each the forward's size, except that its
  weight-gradient formula uses all input channels, so a grouped conv's weight gradient is counted
  ``groups`` times (conv2d's ``flop_counter`` rule); the linear backward is two ``mm``.
- torchinfo (layer_info.py ``calculate_macs``): per leaf module with parameters, a class whose name
  contains "Conv" counts every parameter (weight and bias) once per output position (`torchinfo_conv`);
  any other class counts its parameters once per sample (`torchinfo_default`: BN gamma and beta, a
  linear's weight and bias). Parameter-free modules and functions count 0. A transposed conv's MACs are
  at input positions, so torchinfo counts it stride^2 times too much (4x for the U-Net's 2x2 stride-2
  up-convs).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

MACS = "MACs (conv, linear, matmul)"
Shape = tuple[int, ...]


@dataclass(frozen=True)
class Part:
    """One labelled part of a tool's predicted count for one node."""

    label: str
    value: int


@dataclass(frozen=True)
class Cost:
    """One node as the attribution rules see it: the op, its shapes and args, our params and MACs (batch 1)."""

    op: str
    ins: list[Shape]
    out: Shape
    args: dict[str, Any]
    params: int
    macs: int


def _positions(out: Shape) -> int:
    return math.prod(out[1:]) if len(out) > 1 else 1


def fvcore_per_element(per: int, label: str) -> Callable[[Cost], list[Part]]:
    """fvcore counts `per` per output element (its norm handles, with affine parameters)."""
    return lambda c: [Part(f"{label} {per}/element", per * math.prod(c.out))]


def torchinfo_default(c: Cost) -> list[Part]:
    """torchinfo on a layer that is not a conv: its parameters once per sample; a parameter-free layer 0."""
    if c.params == 0:
        return [Part(MACS, c.macs), Part("parameter-free products (attention), not counted", -c.macs)] if c.macs else []
    parts = [Part(MACS, c.macs)] if c.macs else []
    if c.params != c.macs:
        if len(c.out) == 1 and c.params - c.macs == c.out[0]:
            label = f"{c.op} bias, once per sample"  # a linear (or gate) on vectors: params = MACs + bias
        else:  # tokens [L, D], embeddings, gates: the parameters once, not per position, minus MACs
            label = f"{c.op}: parameters once per sample (not per position), minus MACs"
        parts.append(Part(label, c.params - c.macs))
    return parts


def torchinfo_params_once(label: str) -> Callable[[Cost], list[Part]]:
    """torchinfo counts the parameters once per sample, under `label` (norms' gamma and beta)."""
    return lambda c: ([Part(MACS, c.macs)] if c.macs else []) + (
        [Part(label, c.params - c.macs)] if c.params != c.macs else [])


def torchinfo_conv(cls: str) -> Callable[[Cost], list[Part]]:
    """torchinfo on a conv class: every parameter, bias included, once per output position."""

    def rule(c: Cost) -> list[Part]:
        bias = c.out[0] if c.args.get("bias") else 0
        weights_at_output = (c.params - bias) * _positions(c.out)
        parts = [Part(MACS, c.macs)]
        if bias:
            parts.append(Part("conv bias, 1 per output element", bias * _positions(c.out)))
        if weights_at_output != c.macs:
            parts.append(Part(f"{cls}: weights x output (not input) positions", weights_at_output - c.macs))
        return parts

    return rule
