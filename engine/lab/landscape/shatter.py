"""Shattered gradients (Balduzzi et al. 2017, "The Shattered Gradients Problem", ICML): at initialisation, the
gradient of a deep plain net with respect to its input decorrelates along a line through input space like white
noise, while a residual net's stays correlated (their fig. 1 and 2: 256 inputs on a line, the autocorrelation of
the gradients; for plain rectifier nets the correlation between the gradients at two inputs decays like 2^-L with
depth L, for ResNets with BatchNorm like 1/sqrt(L), sec. 3).

The paper's nets take a scalar input; for any spec here the line is x(t) = t u, t in [-span, span], through the
origin along a seeded random direction u scaled to the norm of a standard-normal input (sqrt of the input size,
so each coordinate is of unit scale like standardised data). The measured signal is the derivative of the loss
along the line, g(t) = <dLoss/dx(t), u / |u|>, the 1-D analogue of their gradient; the loss is cross-entropy with
one fixed, seeded label (a random linear read-out of the output for models whose output is not a class vector).
BatchNorm uses statistics of the line's own inputs (re-estimated once on them, then eval mode), so every point's
gradient is its own and not mixed with the others' through batch statistics.

Reported: the autocorrelation of g over lags, the mean cosine between the full input gradients at lag k, the
lag-1 autocorrelation and the correlation length (the first lag where the autocorrelation falls below 1/e), each
averaged over ``inits`` initialisations; with the same measures for white and brown noise of the same length as
references (the paper's fig. 1 d-e).
"""

from __future__ import annotations

import math
from typing import Any, Literal

import numpy as np
import torch
import torch.nn.functional as F
from pydantic import BaseModel, ConfigDict, Field

from engine.arch import SpecLike, expand
from engine.build import build, resolve_device
from engine.ir.graph import Graph, infer_shapes
from engine.lab.landscape.hessian import wide_dtype
from engine.lab.landscape.options import validate
from engine.lab.landscape.probe import Batches, recalibrate_bn
from engine.lab.landscape.source import LandscapeError

CORRELATION_LENGTH_LEVEL = 1 / math.e  # the usual e-folding definition of a correlation length


class ShatterOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    points: int = Field(256, ge=16, le=4096, description="inputs on the line (Balduzzi et al.: 256)")
    span: float = Field(2.0, gt=0, le=100, description="t runs from -span to span (Balduzzi et al.: [-2, 2])")
    max_lag: int = Field(32, ge=1, le=1024, description="largest lag of the autocorrelation")
    inits: int = Field(3, ge=1, le=20, description="initialisations (seeds seed .. seed + inits - 1) averaged")
    seed: int = Field(0, ge=0, le=2**31 - 1)
    batch_size: int = Field(256, ge=1, le=4096)
    device: Literal["auto", "cpu", "cuda", "mps"] = "auto"

    def to_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="json")


def parse_shatter_options(data: ShatterOptions | dict[str, Any] | None = None, **overrides: Any) -> ShatterOptions:
    base = data.model_dump() if isinstance(data, ShatterOptions) else dict(data or {})
    base.update({k: v for k, v in overrides.items() if v is not None})
    return validate(ShatterOptions, base, "shatter")


def autocorrelation(g: np.ndarray, max_lag: int) -> np.ndarray:
    """Normalised autocorrelation r(k) = sum_i (g_i - m)(g_{i+k} - m) / sum_i (g_i - m)^2, k = 0..max_lag."""
    x = np.asarray(g, dtype=float) - float(np.mean(g))
    den = float(np.dot(x, x))
    lags = min(max_lag, len(x) - 1)
    if den == 0:
        return np.concatenate([[1.0], np.zeros(lags)])
    return np.array([float(np.dot(x[:len(x) - k], x[k:])) / den for k in range(lags + 1)])


def correlation_length(ac: np.ndarray) -> float:
    """The first lag where the autocorrelation falls below 1/e (linearly interpolated); the largest lag if never."""
    below = np.nonzero(ac < CORRELATION_LENGTH_LEVEL)[0]
    if not len(below):
        return float(len(ac) - 1)
    k = int(below[0])
    if k == 0:
        return 0.0
    a, b = ac[k - 1], ac[k]
    return float(k - 1 + (a - CORRELATION_LENGTH_LEVEL) / (a - b))


def noise_references(points: int, max_lag: int, seed: int) -> dict[str, dict[str, Any]]:
    """White noise and brown noise (its running sum) of the same length: the paper's two reference signals."""
    rng = np.random.default_rng(seed)
    white = rng.standard_normal(points)
    out = {}
    for name, sig in (("white noise", white), ("brown noise", np.cumsum(white))):
        ac = autocorrelation(sig, max_lag)
        out[name] = {"autocorr": ac.tolist(), "lag1": float(ac[1]), "correlation_length": correlation_length(ac)}
    return out


def _loss_fn(graph: Graph, out_shape: tuple[int, ...], seed: int) -> Any:
    gen = torch.Generator().manual_seed(seed + 7919)  # a label / read-out of its own, fixed per seed
    if len(out_shape) == 1:
        label = int(torch.randint(out_shape[0], (1,), generator=gen))
        return lambda out: F.cross_entropy(out.float(), torch.full((len(out),), label, device=out.device),
                                           reduction="sum")
    readout = torch.randn(out_shape, generator=gen)
    return lambda out: (out.float() * readout.to(out.device)).sum()


def input_gradients(graph: Graph, seed: int, opts: ShatterOptions) -> tuple[np.ndarray, np.ndarray]:
    """(g [points], cosines at lags 1..max_lag) for one initialisation."""
    device = resolve_device(opts.device)
    shape = tuple(graph.input_shape)
    gen = torch.Generator().manual_seed(seed)
    u = torch.randn(shape, generator=gen)
    u = u / u.norm() * math.sqrt(u.numel())
    t = torch.linspace(-opts.span, opts.span, opts.points)
    x = (t.view(-1, *[1] * len(shape)) * u).to(device)  # [points, *input]
    model = build(graph, device, seed=seed)
    loss = _loss_fn(graph, tuple(infer_shapes(graph)[graph.output]), seed)
    batches = Batches.of(x, torch.zeros(len(x)), opts.batch_size, device)
    recalibrate_bn(model, batches)  # BN on the line's own statistics, then eval: each point's gradient is its own
    model.eval()
    grads = []
    for xb in batches.xs:
        xb = xb.detach().requires_grad_(True)
        (gx,) = torch.autograd.grad(loss(model(xb)), xb)
        grads.append(gx.flatten(1))
    gmat = torch.cat(grads).to(wide_dtype(device))  # [points, D]
    direction = (u / u.norm()).flatten().to(gmat)
    g = (gmat @ direction).cpu().numpy()
    unit = gmat / gmat.norm(dim=1, keepdim=True).clamp_min(torch.finfo(gmat.dtype).tiny)
    lags = min(opts.max_lag, opts.points - 1)
    cos = torch.stack([(unit[:-k] * unit[k:]).sum(1).mean() for k in range(1, lags + 1)]).cpu().numpy()
    return g, cos


def shatter(spec: SpecLike, options: ShatterOptions | dict[str, Any] | None = None) -> dict[str, Any]:
    """The shattering measures of ``spec`` at initialisation, averaged over ``inits`` seeds."""
    opts = parse_shatter_options(options)
    graph = expand(spec)
    if graph.input_kind == "tokens":
        raise LandscapeError(f"{graph.name or graph.family} takes token ids: there is no line through its input "
                             "space; use a model with float inputs (images or feature vectors)")
    acs, coss, lag1, lengths, first_g = [], [], [], [], None
    for k in range(opts.inits):
        g, cos = input_gradients(graph, opts.seed + k, opts)
        ac = autocorrelation(g, opts.max_lag)
        acs.append(ac)
        coss.append(cos)
        lag1.append(float(ac[1]))
        lengths.append(correlation_length(ac))
        first_g = g if first_g is None else first_g
    ac_mean = np.mean(acs, axis=0)
    assert first_g is not None
    return {"name": graph.name or graph.family, "points": opts.points, "span": opts.span, "inits": opts.inits,
            "seed": opts.seed, "lags": list(range(len(ac_mean))), "autocorr": ac_mean.tolist(),
            "autocorr_std": np.std(acs, axis=0).tolist(), "gradient_cosine": [1.0, *np.mean(coss, axis=0).tolist()],
            "lag1": float(np.mean(lag1)), "lag1_values": lag1, "correlation_length": float(np.mean(lengths)),
            "correlation_lengths": lengths, "t": np.linspace(-opts.span, opts.span, opts.points).tolist(),
            "gradient": (first_g / (np.abs(first_g).max() or 1.0)).tolist(),
            "references": noise_references(opts.points, opts.max_lag, opts.seed)}
