"""The op registry: one entry per op = argument schema + shape rule + params rule + MACs/FLOPs rules +
how to build it in PyTorch.

Shapes never include the batch dimension: an image is ``(C, H, W)``, a vector ``(F,)``, tokens ``(L,)``.

Counting conventions (forward, batch 1), documented once here and used by `engine.analysis`:

- ``macs``: multiply-accumulates of conv, linear and matmul only. This is the convention of
  torchvision's published "GFLOPS" column and of fvcore's conv/linear handles (one fused
  multiply-add = one "flop" there). Biases are not MACs.
- ``flops``: 2 per MAC, plus the element-wise work each op's ``flops`` rule adds: bias adds
  (1 per output element), BatchNorm in eval (a folded scale and shift: 2 per element), ReLU
  (1 per element), max-pool (k*k - 1 comparisons per output), average pools (one add per input
  element plus one divide per output), residual adds ((n - 1) per element). Concat, flatten,
  zero-pad and identity move data and count 0.

Training conventions (backward FLOPs, tensors saved for backward) are optional fields of `OpDef`,
documented with their generic fallbacks in `engine.ir.ops.cost`.

Other modules (``engine.arch.families.*``) register further ops with `register_op`.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from engine.core.errors import RegistryError, ShapeError, SpecError
from engine.core.text import fmt_shape
from engine.ir.ops.cost import Backward, Saved, backward_of, saved_of

Shape = tuple[int, ...]
__all__ = ["Backward", "Saved", "backward_of", "saved_of"]  # re-exported: rules live with each op
REQUIRED: Any = object()


@dataclass(frozen=True)
class Arg:
    """One op argument: default (or REQUIRED), type and a range check."""

    default: Any = REQUIRED
    kind: type = int
    check: str = ""  # "positive" | "nonneg" | "prob" | "" ; or "choice:a|b|c"
    doc: str = ""


def _zero(*_: Any) -> int:
    return 0


@dataclass(frozen=True)
class OpDef:
    name: str
    kind: str  # for colouring and grouping: conv, norm, act, pool, merge, linear, reshape, shortcut, io
    shape: Callable[[str, list[Shape], dict[str, Any], dict[str, Any]], Shape]  # node, inputs, args, meta
    params: Callable[[list[Shape], dict[str, Any]], int] = _zero
    macs: Callable[[list[Shape], Shape, dict[str, Any]], int] = _zero
    flops: Callable[[list[Shape], Shape, dict[str, Any]], int] = _zero  # element-wise FLOPs beyond 2*MACs
    module: Callable[[list[Shape], dict[str, Any]], nn.Module] | None = None
    function: Callable[..., Any] | None = None  # emitted as call_function when there is no module
    min_inputs: int = 1
    max_inputs: int | None = 1
    args: dict[str, Arg] = field(default_factory=dict)
    doc: str = ""
    # Training rules, optional (None = the generic fallback of `backward_of` / `saved_of`).
    backward: Callable[[list[Shape], Shape, dict[str, Any]], Backward] | None = None
    saved: Callable[[list[Shape], Shape, dict[str, Any]], Saved] | None = None
    view: bool = False  # the output aliases the first input (no new memory)


OPS: dict[str, OpDef] = {}


def register_op(op: OpDef) -> OpDef:
    if op.name in OPS:
        raise RegistryError(f"op {op.name!r} is already registered; pick another name")
    OPS[op.name] = op
    return op


def get_op(name: str) -> OpDef:
    try:
        return OPS[name]
    except KeyError:
        raise RegistryError(f"unknown op {name!r}; valid ops: {', '.join(sorted(OPS))}") from None


def validate_args(op: OpDef, args: dict[str, Any], where: str) -> dict[str, Any]:
    """Fill defaults, reject unknown and missing args, check types and ranges. `where` prefixes errors."""
    unknown = sorted(set(args) - set(op.args))
    if unknown:
        valid = ", ".join(sorted(op.args)) or "none"
        raise SpecError(f"{where}.{unknown[0]}", f"unknown argument for op {op.name!r}; valid: {valid}")
    out: dict[str, Any] = {}
    for key, spec in op.args.items():
        value = args.get(key, spec.default)
        if value is REQUIRED:
            raise SpecError(f"{where}.{key}", f"op {op.name!r} needs {key!r} ({spec.doc or spec.kind.__name__})")
        if value is not None:
            value = _check_value(value, spec, f"{where}.{key}")
        out[key] = value
    return out


def _check_value(value: Any, spec: Arg, path: str) -> Any:
    if spec.kind is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise SpecError(path, f"must be an integer, got {value!r}")
    elif spec.kind is float:
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            raise SpecError(path, f"must be a finite number, got {value!r}")
        value = float(value)
    elif spec.kind is bool:
        if not isinstance(value, bool):
            raise SpecError(path, f"must be true or false, got {value!r}")
    elif spec.kind is str and not isinstance(value, str):
        raise SpecError(path, f"must be a string, got {value!r}")
    if spec.check == "positive" and value <= 0:
        raise SpecError(path, f"must be a positive integer, got {value!r}")
    if spec.check == "nonneg" and value < 0:
        raise SpecError(path, f"must be zero or more, got {value!r}")
    if spec.check == "prob" and not 0.0 <= value < 1.0:
        raise SpecError(path, f"must be in [0, 1), got {value!r}")
    if spec.check.startswith("choice:"):
        choices = spec.check.removeprefix("choice:").split("|")
        if value not in choices:
            raise SpecError(path, f"must be one of {', '.join(choices)}; got {value!r}")
    return value


def numel(shape: Shape) -> int:
    return math.prod(shape)


def _need_rank(node: str, shape: Shape, rank: int, what: str) -> None:
    if len(shape) != rank:
        raise ShapeError(node, f"expects {what}, got {fmt_shape(shape)}", expected=what, received=shape)


def _spatial_out(node: str, size: int, kernel: int, stride: int, padding: int, dilation: int = 1) -> int:
    """Output size of a conv/pool along one axis; names the node where the map would shrink to zero."""
    out = (size + 2 * padding - dilation * (kernel - 1) - 1) // stride + 1
    if out <= 0 or stride > size:
        raise ShapeError(
            node,
            f"the {size}x{size} map is too small for kernel {kernel}, stride {stride}, padding {padding}: "
            "it would shrink to zero",
            expected=f"a map of at least {max(stride, kernel - 2 * padding)}",
            received=size,
            hint="use a larger input or fewer stride-2 stages",
        )
    return out


# ---- conv / linear ---------------------------------------------------------------------------------


def _conv_pad(args: dict[str, Any]) -> int:
    return args["kernel"] // 2 if args["padding"] is None else args["padding"]


def _conv_shape(node: str, ins: list[Shape], args: dict[str, Any], meta: dict[str, Any]) -> Shape:
    (x,) = ins
    _need_rank(node, x, 3, "an image [C, H, W]")
    if x[0] % args["groups"] or args["out_channels"] % args["groups"]:
        raise ShapeError(node, f"channels {x[0]} -> {args['out_channels']} are not divisible by groups "
                               f"{args['groups']}", hint="use a groups value that divides both")
    pad, k, s, d = _conv_pad(args), args["kernel"], args["stride"], args["dilation"]
    return (args["out_channels"], _spatial_out(node, x[1], k, s, pad, d), _spatial_out(node, x[2], k, s, pad, d))


def _conv_params(ins: list[Shape], args: dict[str, Any]) -> int:
    cin = ins[0][0] // args["groups"]
    return args["out_channels"] * cin * args["kernel"] ** 2 + (args["out_channels"] if args["bias"] else 0)


def _conv_macs(ins: list[Shape], out: Shape, args: dict[str, Any]) -> int:
    return numel(out) * (ins[0][0] // args["groups"]) * args["kernel"] ** 2


def _bias_flops(ins: list[Shape], out: Shape, args: dict[str, Any]) -> int:
    return numel(out) if args.get("bias") else 0


def weighted_backward(ins: list[Shape], out: Shape, args: dict[str, Any], macs: int) -> Backward:
    """Conv / linear: dX and dW are each one product of the forward's size; the bias gradient sums dY
    over every output position (1 add per output element)."""
    return Backward(input_macs=macs, weight_macs=macs, weight_flops=numel(out) if args.get("bias") else 0)


def save_input(ins: list[Shape], out: Shape, args: dict[str, Any]) -> Saved:
    return Saved(inputs=(0,))


def _conv_module(ins: list[Shape], args: dict[str, Any]) -> nn.Module:
    return nn.Conv2d(ins[0][0], args["out_channels"], args["kernel"], stride=args["stride"],
                     padding=_conv_pad(args), dilation=args["dilation"], groups=args["groups"],
                     bias=args["bias"])


register_op(OpDef(
    "conv2d", "conv", _conv_shape, _conv_params, _conv_macs, _bias_flops, _conv_module,
    args={"out_channels": Arg(check="positive", doc="output channels"), "kernel": Arg(3, check="positive"),
          "stride": Arg(1, check="positive"), "padding": Arg(None, check="nonneg"),
          "dilation": Arg(1, check="positive"), "groups": Arg(1, check="positive"), "bias": Arg(False, bool)},
    doc="2-D convolution; padding defaults to kernel // 2 ('same' at stride 1)",
    backward=lambda ins, out, a: weighted_backward(ins, out, a, _conv_macs(ins, out, a)), saved=save_input,
))


def _linear_shape(node: str, ins: list[Shape], args: dict[str, Any], meta: dict[str, Any]) -> Shape:
    (x,) = ins
    if len(x) < 1:
        raise ShapeError(node, "expects at least one feature dimension", received=x)
    return (*x[:-1], args["out_features"])


def _linear_params(ins: list[Shape], args: dict[str, Any]) -> int:
    return ins[0][-1] * args["out_features"] + (args["out_features"] if args["bias"] else 0)


def _linear_macs(ins: list[Shape], out: Shape, args: dict[str, Any]) -> int:
    return numel(out) * ins[0][-1]


register_op(OpDef(
    "linear", "linear", _linear_shape, _linear_params, _linear_macs, _bias_flops,
    lambda ins, a: nn.Linear(ins[0][-1], a["out_features"], bias=a["bias"]),
    args={"out_features": Arg(check="positive", doc="output features"), "bias": Arg(True, bool)},
    doc="fully connected layer over the last dimension",
    backward=lambda ins, out, a: weighted_backward(ins, out, a, _linear_macs(ins, out, a)), saved=save_input,
))

# ---- normalisation, activation, regularisation ---------------------------------------------------------


def _same(node: str, ins: list[Shape], args: dict[str, Any], meta: dict[str, Any]) -> Shape:
    return ins[0]


def _bn_shape(node: str, ins: list[Shape], args: dict[str, Any], meta: dict[str, Any]) -> Shape:
    _need_rank(node, ins[0], 3, "an image [C, H, W]")
    return ins[0]


def bn_backward(ins: list[Shape], out: Shape, args: dict[str, Any]) -> Backward:
    # Ioffe & Szegedy 2015, sec. 3: the channel sums d(beta) = sum dY and d(gamma) = sum dY * xhat, with
    # xhat recomputed from the saved mean and 1/std (2 + 3 per element), then
    # dX = gamma / std * (dY - d(beta) / N - xhat * d(gamma) / N) (4 per element).
    return Backward(input_flops=4 * numel(out), weight_flops=5 * numel(out))


def bn_saved(ins: list[Shape], out: Shape, args: dict[str, Any]) -> Saved:
    # native_batch_norm saves its input and the batch mean and 1/std per channel (float32); weight and
    # running statistics are parameters and buffers, counted with the model.
    return Saved(inputs=(0,), fixed_bytes=2 * ins[0][0] * 4)


def elementwise_backward(ins: list[Shape], out: Shape, args: dict[str, Any]) -> Backward:
    return Backward(input_flops=numel(out))  # one multiply / select per element


register_op(OpDef(
    "batchnorm2d", "norm", _bn_shape, lambda ins, a: 2 * ins[0][0], _zero,
    lambda ins, out, a: 2 * numel(out), lambda ins, a: nn.BatchNorm2d(ins[0][0]),
    doc="BatchNorm over channels (gamma and beta are parameters; running stats are buffers)",
    backward=bn_backward, saved=bn_saved,
))
register_op(OpDef("relu", "act", _same, flops=lambda ins, out, a: numel(out), module=lambda ins, a: nn.ReLU(),
                  doc="ReLU (not in place, so hooks and shortcuts see the pre-activation tensor)",
                  backward=elementwise_backward, saved=lambda ins, out, a: Saved(output=True)))
register_op(OpDef("identity", "shortcut", _same, module=lambda ins, a: nn.Identity(), doc="passes its input on",
                  backward=lambda ins, out, a: Backward(), view=True))
# In training, CPU dropout saves its scaled noise tensor (compute dtype; CUDA's fused kernel saves a bool mask).
register_op(OpDef("dropout", "reg", _same, module=lambda ins, a: nn.Dropout(a["p"]),
                  args={"p": Arg(0.5, float, "prob")}, doc="dropout (identity in eval)",
                  backward=elementwise_backward, saved=lambda ins, out, a: Saved(extra=numel(out))))

# ---- pooling and reshaping -----------------------------------------------------------------------------


def _pool_shape(node: str, ins: list[Shape], args: dict[str, Any], meta: dict[str, Any]) -> Shape:
    (x,) = ins
    _need_rank(node, x, 3, "an image [C, H, W]")
    k, s, p = args["kernel"], args["stride"] or args["kernel"], args["padding"]
    if p > k // 2:
        raise ShapeError(node, f"padding {p} must be at most half the kernel {k}", hint="lower the padding")
    return (x[0], _spatial_out(node, x[1], k, s, p), _spatial_out(node, x[2], k, s, p))


_POOL_ARGS = {"kernel": Arg(2, check="positive"), "stride": Arg(None, check="positive"),
              "padding": Arg(0, check="nonneg")}
register_op(OpDef(
    "maxpool2d", "pool", _pool_shape, flops=lambda ins, out, a: numel(out) * (a["kernel"] ** 2 - 1),
    module=lambda ins, a: nn.MaxPool2d(a["kernel"], a["stride"] or a["kernel"], a["padding"]),
    args=_POOL_ARGS, doc="max pooling; stride defaults to the kernel",
    # Backward scatters each output gradient to its argmax (1 add per output); the forward saves its input
    # and the int64 argmax indices (max_pool2d_with_indices).
    backward=lambda ins, out, a: Backward(input_flops=numel(out)),
    saved=lambda ins, out, a: Saved(inputs=(0,), extra_bytes=8 * numel(out)),
))
register_op(OpDef(
    "avgpool2d", "pool", _pool_shape, flops=lambda ins, out, a: numel(out) * (a["kernel"] ** 2),
    module=lambda ins, a: nn.AvgPool2d(a["kernel"], a["stride"] or a["kernel"], a["padding"]),
    args=_POOL_ARGS, doc="average pooling; stride defaults to the kernel",
    # Backward mirrors the forward: one divide per output, one add into each of the k*k inputs it averaged.
    backward=lambda ins, out, a: Backward(input_flops=numel(out) * a["kernel"] ** 2), saved=save_input,
))


def _gap_shape(node: str, ins: list[Shape], args: dict[str, Any], meta: dict[str, Any]) -> Shape:
    _need_rank(node, ins[0], 3, "an image [C, H, W]")
    return (ins[0][0], 1, 1)


register_op(OpDef(
    "global_avgpool", "pool", _gap_shape, flops=lambda ins, out, a: numel(ins[0]) + numel(out),
    module=lambda ins, a: nn.AdaptiveAvgPool2d(1), doc="average over H and W to [C, 1, 1]",
    # A 1x1 adaptive average is a mean: its backward spreads dY / (H * W) over the input (1 per input
    # element) and needs no saved tensor, only the shape.
    backward=lambda ins, out, a: Backward(input_flops=numel(ins[0])), saved=lambda ins, out, a: Saved(),
))
register_op(OpDef(
    "flatten", "reshape", lambda node, ins, a, m: (numel(ins[0]),), module=lambda ins, a: nn.Flatten(1),
    doc="flattens everything but the batch dimension", backward=lambda ins, out, a: Backward(), view=True,
))

# ---- merges and shortcuts ------------------------------------------------------------------------------


def _labels(meta: dict[str, Any], n: int) -> list[str]:
    labels = list(meta.get("input_labels", []))
    return labels + [f"input {i}" for i in range(len(labels), n)]


def _add_shape(node: str, ins: list[Shape], args: dict[str, Any], meta: dict[str, Any]) -> Shape:
    labels = _labels(meta, len(ins))
    for shape, label in zip(ins[1:], labels[1:], strict=True):
        if shape != ins[0]:
            raise ShapeError(
                node, f"cannot add {fmt_shape(ins[0])} ({labels[0]}) to {fmt_shape(shape)} ({label})",
                expected=ins[0], received=shape,
                hint=meta.get("hint", "insert a projection adapter or use concat"),
            )
    return ins[0]


def _add_all(*xs: torch.Tensor) -> torch.Tensor:
    out = xs[0]
    for x in xs[1:]:
        out = out + x
    return out


register_op(OpDef(
    "add", "merge", _add_shape, flops=lambda ins, out, a: (len(ins) - 1) * numel(out),
    function=operator.add, min_inputs=2, max_inputs=None, doc="element-wise sum (a residual merge)",
    # d(a + b)/da = 1: every summand receives dY itself, nothing is computed or saved.
    backward=lambda ins, out, a: Backward(), saved=lambda ins, out, a: Saved(),
))


def _concat_shape(node: str, ins: list[Shape], args: dict[str, Any], meta: dict[str, Any]) -> Shape:
    labels = _labels(meta, len(ins))
    first = ins[0]
    for shape, label in zip(ins[1:], labels[1:], strict=True):
        if len(shape) != len(first) or shape[1:] != first[1:]:
            raise ShapeError(
                node, f"cannot concatenate {fmt_shape(shape)} ({label}) onto {fmt_shape(first)} ({labels[0]}): "
                "all but the channel dimension must match", expected=first, received=shape,
                hint=meta.get("hint", "insert a pool adapter to match the spatial size"),
            )
    return (sum(s[0] for s in ins), *first[1:])


def concat_channels(*xs: torch.Tensor) -> torch.Tensor:
    """Concatenate along channels (dim 1 with the batch dimension)."""
    return torch.cat(xs, dim=1)


register_op(OpDef("concat", "merge", _concat_shape, function=concat_channels, min_inputs=2, max_inputs=None,
                  doc="concatenation along channels (a dense merge)",
                  # The backward slices dY back into its parts (views): no FLOPs, nothing saved.
                  backward=lambda ins, out, a: Backward(), saved=lambda ins, out, a: Saved()))


class ZeroPadShortcut(nn.Module):
    """Option A of He et al. 2016 (sec. 4.2): subsample by `stride`, append zero channels. No parameters."""

    def __init__(self, in_channels: int, out_channels: int, stride: int) -> None:
        super().__init__()
        self.stride = stride
        extra = out_channels - in_channels
        # Split the zeros on both sides of the channels, as the reference CIFAR implementations do.
        self.pad = (0, 0, 0, 0, extra // 2, extra - extra // 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.stride > 1:
            x = x[:, :, :: self.stride, :: self.stride]  # [N, C, ceil(H/s), ceil(W/s)]
        return nn.functional.pad(x, self.pad)  # [N, C_out, ...]

    def extra_repr(self) -> str:
        return f"stride={self.stride}, pad={self.pad[4:]}"


def _zeropad_shape(node: str, ins: list[Shape], args: dict[str, Any], meta: dict[str, Any]) -> Shape:
    (x,) = ins
    _need_rank(node, x, 3, "an image [C, H, W]")
    if args["out_channels"] < x[0]:
        raise ShapeError(node, f"a zero-pad shortcut cannot reduce channels from {x[0]} to {args['out_channels']}",
                         expected=f">= {x[0]} channels", received=args["out_channels"],
                         hint="use shortcut B or C (a projection)")
    s = args["stride"]
    if s > x[1] or s > x[2]:
        raise ShapeError(node, f"stride {s} on a {x[1]}x{x[2]} map would shrink it to zero",
                         hint="use a larger input or fewer stride-2 stages")
    return (args["out_channels"], -(-x[1] // s), -(-x[2] // s))


register_op(OpDef(
    "zeropad_shortcut", "shortcut", _zeropad_shape,
    module=lambda ins, a: ZeroPadShortcut(ins[0][0], a["out_channels"], a["stride"]),
    args={"out_channels": Arg(check="positive"), "stride": Arg(1, check="positive")},
    doc="identity shortcut that subsamples and zero-pads channels (option A); no parameters",
    # The backward slices dY (drops the padded channels) and scatters it strided: data movement only.
    backward=lambda ins, out, a: Backward(), saved=lambda ins, out, a: Saved(),
))

# The graph's input placeholder: its shape is the graph's input shape (see engine.ir.graph.infer_shapes).
register_op(OpDef("input", "io", lambda node, ins, a, m: (), min_inputs=0, max_inputs=0,
                  doc="the model input (images, vectors or token ids)",
                  backward=lambda ins, out, a: Backward(), saved=lambda ins, out, a: Saved()))
