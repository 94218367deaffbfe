"""Ops for the connectivity families (DenseNet, U-Net, MLPs, transformers) and for connectivity edits.

Same counting conventions as `engine.ir.ops` (MACs = multiply-accumulates of conv, linear and matmul;
``flops`` rules add the element-wise work beyond 2 per MAC). Additions, documented once here:

- ``conv_transpose2d``: every input pixel is multiplied into a k x k x C_out patch, so MACs =
  H_in * W_in * C_in * C_out * k * k / groups (the rule of torch.utils.flop_counter; torchinfo
  over-counts transposed convs about 4x, see REFERENCE.md).
- ``self_attention``: QK^T and AV are matmuls, L * L * d MACs each (d = d_model, summed over heads);
  the scale, exp, sum and divide of the softmax add 4 FLOPs per score. The q/k/v and output
  projections are separate ``linear`` nodes.
- ``layernorm``: 5 FLOPs per element (mean, variance, normalise, scale, shift; not foldable into
  the previous layer, unlike BatchNorm in eval, which counts 2). ``batchnorm1d`` counts 2.
- ``tanh``, ``sigmoid``, ``gelu``: 1 per element, as ReLU (a convention: transcendental functions
  have no agreed FLOP cost). ``gate`` = a linear (or 1x1 conv on images) + sigmoid: its bias and
  its sigmoid add 1 each per output element.
- ``highway`` merge y = h*t + x*(1-t): 4 per element. ``upsample``: bilinear 7 per output element
  (a weighted sum of 4 neighbours), nearest 0. ``mean_tokens``: as global_avgpool.
- ``embedding``, ``concat_last`` and zero-padding move data: 0. ``pos_embedding`` adds: 1 per element.

Training rules (``backward`` and ``saved``, see `engine.ir.ops.cost`; saved tensors measured with
``torch.autograd.graph.saved_tensors_hooks`` on CPU, torch 2.13): the transposed conv and the gate's
linear cost dX and dW one forward each; attention's backward is four matmuls of L * L * d (dP = dO V^T,
dV = P^T dO, dQ = dS K, dK = dS^T Q: twice its forward MACs) and saves copies of q, k, v and the
probabilities; LayerNorm saves its input and a float32 mean and 1/std per row; tanh and sigmoid save
their output, GELU its input; the highway merge saves h, t, x and (1 - t); upsampling, concat, position
embeddings and token means save nothing.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F  # noqa: N812 - the conventional name

from engine.core.errors import ShapeError
from engine.core.text import fmt_shape
from engine.ir.ops.base import (
    Arg,
    Backward,
    OpDef,
    Saved,
    Shape,
    bn_backward,
    bn_saved,
    numel,
    register_op,
    save_input,
    weighted_backward,
)

Args = dict[str, Any]


def _need(node: str, shape: Shape, ranks: tuple[int, ...], what: str) -> None:
    if len(shape) not in ranks:
        raise ShapeError(node, f"expects {what}, got {fmt_shape(shape)}", expected=what, received=shape)


def _same(node: str, ins: list[Shape], args: Args, meta: dict[str, Any]) -> Shape:
    return ins[0]


def _per_elem(k: int):  # noqa: ANN202 - a flops rule factory
    return lambda ins, out, a: k * numel(out)


# ---- transposed conv and upsampling (U-Net decoders) ---------------------------------------------------


def _convt_shape(node: str, ins: list[Shape], args: Args, meta: dict[str, Any]) -> Shape:
    (x,) = ins
    _need(node, x, (3,), "an image [C, H, W]")
    k, s, p, op = args["kernel"], args["stride"], args["padding"], args["output_padding"]
    if op >= s:
        raise ShapeError(node, f"output_padding {op} must be smaller than the stride {s}", hint="lower output_padding")
    size = [(d - 1) * s - 2 * p + k + op for d in x[1:]]
    if min(size) <= 0:
        raise ShapeError(node, f"padding {p} leaves no output for a {x[1]}x{x[2]} map", hint="lower the padding")
    return (args["out_channels"], size[0], size[1])


register_op(OpDef(
    "conv_transpose2d", "conv", _convt_shape,
    params=lambda ins, a: ins[0][0] * a["out_channels"] * a["kernel"] ** 2 + (a["out_channels"] if a["bias"] else 0),
    macs=lambda ins, out, a: numel(ins[0][1:]) * ins[0][0] * out[0] * a["kernel"] ** 2,
    flops=lambda ins, out, a: numel(out) if a["bias"] else 0,
    module=lambda ins, a: nn.ConvTranspose2d(ins[0][0], a["out_channels"], a["kernel"], stride=a["stride"],
                                             padding=a["padding"], output_padding=a["output_padding"],
                                             bias=a["bias"]),
    args={"out_channels": Arg(check="positive", doc="output channels"), "kernel": Arg(2, check="positive"),
          "stride": Arg(2, check="positive"), "padding": Arg(0, check="nonneg"),
          "output_padding": Arg(0, check="nonneg"), "bias": Arg(False, bool)},
    doc="transposed 2-D convolution (a learned upsampling; k=2, s=2 doubles H and W)",
    backward=lambda ins, out, a: weighted_backward(ins, out, a, numel(ins[0]) * out[0] * a["kernel"] ** 2),
    saved=save_input,
))


def _upsample_shape(node: str, ins: list[Shape], args: Args, meta: dict[str, Any]) -> Shape:
    (x,) = ins
    _need(node, x, (3,), "an image [C, H, W]")
    return (x[0], x[1] * args["scale"], x[2] * args["scale"])


def _upsample_module(ins: list[Shape], a: Args) -> nn.Module:
    corners = a["align_corners"] if a["mode"] == "bilinear" else None
    return nn.Upsample(scale_factor=a["scale"], mode=a["mode"], align_corners=corners)


register_op(OpDef(
    "upsample", "resize", _upsample_shape, flops=lambda ins, out, a: 7 * numel(out) if a["mode"] == "bilinear" else 0,
    module=_upsample_module,
    args={"scale": Arg(2, check="positive"), "mode": Arg("bilinear", str, "choice:bilinear|nearest"),
          "align_corners": Arg(False, bool)},
    doc="parameter-free upsampling of H and W by an integer scale",
    # dX gathers each output gradient back: bilinear mirrors the forward, nearest sums scale^2 per input.
    backward=lambda ins, out, a: Backward(input_flops=7 * numel(out) if a["mode"] == "bilinear" else numel(out)),
    saved=lambda ins, out, a: Saved(),
))

# ---- normalisation and activations ---------------------------------------------------------------------


def _ln_shape(node: str, ins: list[Shape], args: Args, meta: dict[str, Any]) -> Shape:
    _need(node, ins[0], (1, 2), "vectors [F] or tokens [L, D]")
    return ins[0]


register_op(OpDef(
    "layernorm", "norm", _ln_shape, params=lambda ins, a: 2 * ins[0][-1], flops=_per_elem(5),
    module=lambda ins, a: nn.LayerNorm(ins[0][-1]), doc="LayerNorm over the last dimension (Ba et al. 2016)",
    # as BatchNorm (engine.ir.ops.bn_backward), with one more multiply by gamma per element in dX
    backward=lambda ins, out, a: Backward(input_flops=5 * numel(out), weight_flops=5 * numel(out)),
    saved=lambda ins, out, a: Saved(inputs=(0,), extra_bytes=2 * 4 * (numel(out) // out[-1])),
))


def _bn1d_shape(node: str, ins: list[Shape], args: Args, meta: dict[str, Any]) -> Shape:
    _need(node, ins[0], (1,), "vectors [F]")
    return ins[0]


register_op(OpDef(
    "batchnorm1d", "norm", _bn1d_shape, params=lambda ins, a: 2 * ins[0][0], flops=_per_elem(2),
    module=lambda ins, a: nn.BatchNorm1d(ins[0][0]), doc="BatchNorm over the features of vectors",
    backward=bn_backward, saved=bn_saved,
))
# dY * f'(x): tanh 1 - y^2 and sigmoid y (1 - y) from the saved output (3 per element); GELU's derivative
# from the saved input counts 1, as its forward, plus the product with dY.
for _name, _cls, _bwd, _saved in (("tanh", nn.Tanh, 3, Saved(output=True)),
                                  ("sigmoid", nn.Sigmoid, 3, Saved(output=True)),
                                  ("gelu", nn.GELU, 2, Saved(inputs=(0,)))):
    register_op(OpDef(_name, "act", _same, flops=_per_elem(1), module=lambda ins, a, c=_cls: c(),
                      doc=f"element-wise {_name}",
                      backward=lambda ins, out, a, k=_bwd: Backward(input_flops=k * numel(out)),
                      saved=lambda ins, out, a, sv=_saved: sv))

# ---- gates and merges ------------------------------------------------------------------------------------


class SigmoidGate(nn.Module):
    """T(x) = sigmoid(W x + b): a linear over the last dim, or a 1x1 conv over the channels of images.

    The bias starts at `bias_init` (negative: Srivastava et al. 2015, "Training Very Deep Networks",
    sec. 2.2, so a highway layer starts close to carrying its input). It keeps PyTorch's default linear
    init under every scheme: the parameters are not an nn.Linear's, so init schemes leave the bias alone.
    """

    def __init__(self, in_features: int, out_features: int, bias_init: float) -> None:
        super().__init__()
        self.bias_init = bias_init
        self.weight = nn.Parameter(torch.empty(out_features, in_features))
        self.bias = nn.Parameter(torch.empty(out_features))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        nn.init.kaiming_uniform_(self.weight, a=math.sqrt(5))  # nn.Linear's default
        nn.init.constant_(self.bias, self.bias_init)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() == 4:  # [N, C, H, W]: a 1x1 conv
            return torch.sigmoid(F.conv2d(x, self.weight[:, :, None, None], self.bias))
        return torch.sigmoid(F.linear(x, self.weight, self.bias))

    def extra_repr(self) -> str:
        return f"{self.weight.shape[1]} -> {self.weight.shape[0]}, bias_init={self.bias_init}"


def channels(shape: Shape) -> int:
    """Channels of an image [C, H, W]; features (the last dim) of vectors and tokens."""
    return shape[0] if len(shape) == 3 else shape[-1]


def _gate_shape(node: str, ins: list[Shape], args: Args, meta: dict[str, Any]) -> Shape:
    (x,) = ins
    _need(node, x, (1, 2, 3), "vectors [F], tokens [L, D] or an image [C, H, W]")
    return (args["out_features"], *x[1:]) if len(x) == 3 else (*x[:-1], args["out_features"])


register_op(OpDef(
    "gate", "gate", _gate_shape,
    params=lambda ins, a: (channels(ins[0]) + 1) * a["out_features"],
    macs=lambda ins, out, a: numel(out) * channels(ins[0]), flops=_per_elem(2),
    module=lambda ins, a: SigmoidGate(channels(ins[0]), a["out_features"], a["bias_init"]),
    args={"out_features": Arg(check="positive", doc="gate width = the merged tensor's channels"),
          "bias_init": Arg(-2.0, float, doc="initial gate bias; negative favours carrying the input")},
    doc="sigmoid transform gate T(x) of a highway merge",
    # the linear's dX and dW (+ bias sum), then the sigmoid's derivative from its saved output (3 / element)
    backward=lambda ins, out, a: Backward(input_macs=numel(out) * channels(ins[0]),
                                          weight_macs=numel(out) * channels(ins[0]),
                                          input_flops=3 * numel(out), weight_flops=numel(out)),
    saved=lambda ins, out, a: Saved(inputs=(0,), output=True),
))


def _highway_shape(node: str, ins: list[Shape], args: Args, meta: dict[str, Any]) -> Shape:
    given = list(meta.get("input_labels", []))
    labels = given + ["transform h", "gate t", "carry x"][len(given):]
    for shape, label in zip(ins[1:], labels[1:], strict=True):
        if shape != ins[0]:
            raise ShapeError(node, f"cannot gate {fmt_shape(ins[0])} ({labels[0]}) with {fmt_shape(shape)} ({label})",
                             expected=ins[0], received=shape,
                             hint=meta.get("hint", "all three inputs of a highway merge need the same shape"))
    return ins[0]


def highway_merge(h: torch.Tensor, t: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """y = H(x)*T(x) + x*(1 - T(x)) (Srivastava et al. 2015, eq. 3)."""
    return h * t + x * (1 - t)


register_op(OpDef("highway", "merge", _highway_shape, flops=_per_elem(4), function=highway_merge,
                  min_inputs=3, max_inputs=3, doc="highway merge of (h, t, x): y = h*t + x*(1-t)",
                  # dh = dy t, dx = dy (1 - t), dt = dy h - dy x (and the sum of t's two gradients): 6 / element
                  backward=lambda ins, out, a: Backward(input_flops=6 * numel(out)),
                  saved=lambda ins, out, a: Saved(inputs=(0, 1, 2), extra=numel(out))))


def _concat_last_shape(node: str, ins: list[Shape], args: Args, meta: dict[str, Any]) -> Shape:
    first = ins[0]
    for shape in ins[1:]:
        if len(shape) != len(first) or shape[:-1] != first[:-1]:
            raise ShapeError(node, f"cannot concatenate {fmt_shape(shape)} onto {fmt_shape(first)}: all but the "
                                   "last dimension must match", expected=first, received=shape,
                             hint=meta.get("hint", "use a projection adapter"))
    return (*first[:-1], sum(s[-1] for s in ins))


def concat_last(*xs: torch.Tensor) -> torch.Tensor:
    return torch.cat(xs, dim=-1)


register_op(OpDef("concat_last", "merge", _concat_last_shape, function=concat_last, min_inputs=2, max_inputs=None,
                  doc="concatenation along the last dimension (features of token sequences)",
                  backward=lambda ins, out, a: Backward(), saved=lambda ins, out, a: Saved()))


class PoolPad(nn.Module):
    """A parameter-free adapter: average-pool H and W by `stride`, then zero-pad channels (or features)."""

    def __init__(self, extra: int, stride: int, image: bool) -> None:
        super().__init__()
        self.extra, self.stride, self.image = extra, stride, image

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.image:
            if self.stride > 1:
                x = F.avg_pool2d(x, self.stride)  # [N, C, H/s, W/s]
            return F.pad(x, (0, 0, 0, 0, 0, self.extra))  # [N, C + extra, ...]
        return F.pad(x, (0, self.extra))  # [..., F + extra]

    def extra_repr(self) -> str:
        return f"stride={self.stride}, extra={self.extra}"


def _pool_pad_shape(node: str, ins: list[Shape], args: Args, meta: dict[str, Any]) -> Shape:
    (x,) = ins
    out, s = args["out_channels"], args["stride"]
    _need(node, x, (1, 2, 3), "vectors [F], tokens [L, D] or an image [C, H, W]")
    if out < channels(x):
        raise ShapeError(node, f"a pool adapter cannot reduce {channels(x)} channels to {out}",
                         expected=f">= {channels(x)} channels", received=out, hint="use adapter: projection")
    if len(x) != 3:
        if s != 1:
            raise ShapeError(node, f"stride {s} needs an image [C, H, W], got {fmt_shape(x)}", hint="use stride 1")
        return (*x[:-1], out)
    if s > x[1] or s > x[2]:
        raise ShapeError(node, f"stride {s} would shrink the {x[1]}x{x[2]} map to zero", hint="use a later source")
    return (out, x[1] // s, x[2] // s)


register_op(OpDef(
    "pool_pad", "shortcut", _pool_pad_shape,
    flops=lambda ins, out, a: numel(ins[0]) + numel(out) if a["stride"] > 1 else 0,
    module=lambda ins, a: PoolPad(a["out_channels"] - channels(ins[0]), a["stride"], len(ins[0]) == 3),
    args={"out_channels": Arg(check="positive"), "stride": Arg(1, check="positive")},
    doc="parameter-free adapter: average-pool by stride, zero-pad channels",
    # the average pool's backward spreads dY over its window (1 per input element) and saves the input
    backward=lambda ins, out, a: Backward(input_flops=numel(ins[0]) if a["stride"] > 1 else 0),
    saved=lambda ins, out, a: Saved(inputs=(0,)) if a["stride"] > 1 and len(ins[0]) == 3 else Saved(),
))

# ---- token models ------------------------------------------------------------------------------------------


def _embedding_shape(node: str, ins: list[Shape], args: Args, meta: dict[str, Any]) -> Shape:
    _need(node, ins[0], (1,), "token ids [L]")
    return (ins[0][0], args["dim"])


register_op(OpDef(
    "embedding", "embed", _embedding_shape, params=lambda ins, a: a["num_embeddings"] * a["dim"],
    module=lambda ins, a: nn.Embedding(a["num_embeddings"], a["dim"]),
    args={"num_embeddings": Arg(check="positive", doc="vocabulary size"),
          "dim": Arg(check="positive", doc="embedding width")},
    doc="token embedding: ids [L] -> [L, dim]",
    # dW scatters each row of dY into the table (1 add per element); the int64 ids are saved
    backward=lambda ins, out, a: Backward(weight_flops=numel(out)), saved=save_input,
))


class LearnedPositions(nn.Module):
    """Adds a learned position embedding (Vaswani et al. 2017, sec. 3.5; GPT-2's N(0, 0.02) init)."""

    def __init__(self, length: int, dim: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.empty(length, dim))
        nn.init.normal_(self.weight, std=0.02)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.weight  # [N, L, D]


def _tokens_shape(node: str, ins: list[Shape], args: Args, meta: dict[str, Any]) -> Shape:
    _need(node, ins[0], (2,), "tokens [L, D]")
    return ins[0]


register_op(OpDef("pos_embedding", "embed", _tokens_shape, params=lambda ins, a: numel(ins[0]), flops=_per_elem(1),
                  module=lambda ins, a: LearnedPositions(*ins[0]), doc="adds a learned [L, D] position embedding",
                  # dX = dY; dW sums dY over the batch (1 add per element); nothing saved
                  backward=lambda ins, out, a: Backward(weight_flops=numel(out)), saved=lambda ins, out, a: Saved()))


class SelfAttention(nn.Module):
    """Scaled dot-product attention over packed q, k, v [N, L, 3D] -> [N, L, D], `heads` heads.

    Written as two explicit matmuls (QK^T, then AV) so that counting tools see them (Vaswani et al. 2017).
    """

    def __init__(self, heads: int, causal: bool) -> None:
        super().__init__()
        self.heads, self.causal = heads, causal

    def forward(self, qkv: torch.Tensor) -> torch.Tensor:
        n, length, three_d = qkv.shape
        d = three_d // 3
        q, k, v = (t.reshape(n, length, self.heads, d // self.heads).transpose(1, 2)
                   for t in qkv.split(d, dim=-1))  # [N, H, L, D/H] each
        scores = q @ k.transpose(-2, -1) / math.sqrt(d // self.heads)  # [N, H, L, L]
        if self.causal:
            mask = torch.ones(length, length, dtype=torch.bool, device=qkv.device).triu(1)
            scores = scores.masked_fill(mask, float("-inf"))
        out = scores.softmax(dim=-1) @ v  # [N, H, L, D/H]
        return out.transpose(1, 2).reshape(n, length, d)  # [N, L, D]

    def extra_repr(self) -> str:
        return f"heads={self.heads}, causal={self.causal}"


def _attention_shape(node: str, ins: list[Shape], args: Args, meta: dict[str, Any]) -> Shape:
    (x,) = ins
    _need(node, x, (2,), "packed q, k, v [L, 3D]")
    if x[1] % 3 or (x[1] // 3) % args["heads"]:
        raise ShapeError(node, f"packed q, k, v of width {x[1]} do not split into 3 x {args['heads']} heads",
                         expected=f"a width divisible by {3 * args['heads']}", received=x[1],
                         hint="make d_model a multiple of heads")
    return (x[0], x[1] // 3)


register_op(OpDef(
    "self_attention", "attention", _attention_shape,
    macs=lambda ins, out, a: 2 * out[0] * out[0] * out[1],
    flops=lambda ins, out, a: 4 * a["heads"] * out[0] * out[0],
    module=lambda ins, a: SelfAttention(a["heads"], a["causal"]),
    args={"heads": Arg(check="positive", doc="attention heads"), "causal": Arg(False, bool)},
    doc="multi-head scaled dot-product self-attention over packed q, k, v (no parameters)",
    # four matmuls of L*L*d (twice the forward), the softmax / scale / mask backward 4 per score; saved:
    # contiguous copies of q, k, v (3 L d) and the probabilities (H L^2), plus a causal bool mask
    backward=lambda ins, out, a: Backward(input_macs=4 * out[0] * out[0] * out[1],
                                          input_flops=4 * a["heads"] * out[0] * out[0]),
    saved=lambda ins, out, a: Saved(extra=3 * out[0] * out[1] + a["heads"] * out[0] * out[0],
                                    fixed_bytes=out[0] * out[0] if a["causal"] else 0),
))


def _mean_tokens_shape(node: str, ins: list[Shape], args: Args, meta: dict[str, Any]) -> Shape:
    _need(node, ins[0], (2,), "tokens [L, D]")
    return ins[0][1:]


def mean_tokens(x: torch.Tensor) -> torch.Tensor:
    return x.mean(dim=1)  # [N, L, D] -> [N, D]


register_op(OpDef("mean_tokens", "pool", _mean_tokens_shape, flops=lambda ins, out, a: numel(ins[0]) + numel(out),
                  function=mean_tokens, doc="mean over the tokens: [L, D] -> [D]",
                  backward=lambda ins, out, a: Backward(input_flops=numel(ins[0])), saved=lambda ins, out, a: Saved()))
