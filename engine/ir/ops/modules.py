"""SkipLab's own torch modules and functions, the ones torch.nn does not have. Imported only when a model is
built (by the ops' module factories) or a file exported (their source is copied into it), never by the
counting path: `engine.ir` and `engine.analysis` start without torch.

The exporter copies these classes with `inspect.getsource`, so each may use only ``torch``, ``nn``,
``F`` (torch.nn.functional), ``math`` and ``typing``.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F  # noqa: N812 - the conventional name


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


class LearnedPositions(nn.Module):
    """Adds a learned position embedding (Vaswani et al. 2017, sec. 3.5; GPT-2's N(0, 0.02) init)."""

    def __init__(self, length: int, dim: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.empty(length, dim))
        nn.init.normal_(self.weight, std=0.02)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.weight  # [N, L, D]


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


def concat_channels(*xs: torch.Tensor) -> torch.Tensor:
    """Concatenate along channels (dim 1 with the batch dimension)."""
    return torch.cat(xs, dim=1)


def concat_last(*xs: torch.Tensor) -> torch.Tensor:
    return torch.cat(xs, dim=-1)


def highway_merge(h: torch.Tensor, t: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """y = H(x)*T(x) + x*(1 - T(x)) (Srivastava et al. 2015, eq. 3)."""
    return h * t + x * (1 - t)


def mean_tokens(x: torch.Tensor) -> torch.Tensor:
    return x.mean(dim=1)  # [N, L, D] -> [N, D]
