"""Curvature from Hessian-vector products: the extreme eigenvalues of the loss Hessian by Lanczos.

Li et al. 2018 (sec. 6) measure how non-convex a surface is by the principal curvatures of the loss in the full
parameter space: a convex function has a positive semi-definite Hessian, so the ratio |lambda_min / lambda_max|
of its extreme eigenvalues is near zero wherever the function is (nearly) convex and large where there is strong
negative curvature. They computed the eigenvalues with implicitly restarted Lanczos on Hessian-vector products;
here it is plain Lanczos with full re-orthogonalisation (Golub & Van Loan, sec. 10.1), which for a few dozen
iterations finds the extreme eigenvalues well. lambda_max alone is the usual curvature measure of sharpness
(the largest eigenvalue of the Hessian at a minimum; Keskar et al. 2017 discuss it beside their eps-sharpness).

A Hessian-vector product is the gradient of g . v (Pearlmutter 1994), two backward passes; nothing here is
copied to the host inside the Lanczos loop.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch

Matvec = Callable[[torch.Tensor], torch.Tensor]
LossClosure = Callable[[], Sequence[torch.Tensor]]  # per-batch losses, already weighted to sum to the mean loss


def wide_dtype(device: torch.device | str) -> torch.dtype:
    """float64 for accumulations and Lanczos vectors, except on Apple MPS, which has no float64."""
    return torch.float32 if torch.device(device).type == "mps" else torch.float64


def flat_hvp(params: Sequence[torch.Tensor], batch_losses: LossClosure) -> Matvec:
    """v (flat, wide dtype) -> H v (flat, same dtype), H the Hessian of the summed batch losses w.r.t. ``params``."""
    shapes = [p.shape for p in params]
    sizes = [p.numel() for p in params]

    def matvec(v: torch.Tensor) -> torch.Tensor:
        parts = [c.view(s).to(p.dtype) for c, s, p in zip(torch.split(v, sizes), shapes, params, strict=True)]
        out = torch.zeros_like(v)
        for loss in batch_losses():
            grads = torch.autograd.grad(loss, params, create_graph=True)
            dot = torch.stack([(g * u).sum() for g, u in zip(grads, parts, strict=True)]).sum()
            hv = torch.autograd.grad(dot, params)
            out += torch.cat([h.reshape(-1) for h in hv]).to(v.dtype)
        return out

    return matvec


def lanczos(matvec: Matvec, dim: int, iters: int, *, device: torch.device | str = "cpu",
            seed: int = 0) -> torch.Tensor:
    """The Ritz values (ascending, on the CPU; float64, float32 on MPS) of a symmetric operator after ``iters``
    Lanczos steps with full re-orthogonalisation. With ``iters >= dim`` they are its eigenvalues."""
    k = max(1, min(int(iters), int(dim)))
    dtype = wide_dtype(device)
    gen = torch.Generator().manual_seed(seed)
    v = torch.randn(dim, generator=gen, dtype=torch.float64).to(device, dtype)
    v = v / v.norm()
    basis = torch.zeros(k, dim, dtype=dtype, device=device)
    alphas, betas = [], []
    beta = torch.zeros((), dtype=dtype, device=device)
    for j in range(k):
        basis[j] = v
        w = matvec(v)
        alpha = torch.dot(w, v)
        w = w - alpha * v
        if j:
            w = w - beta * basis[j - 1]
        q = basis[:j + 1]
        for _ in range(2):  # re-orthogonalise twice: "twice is enough" (Parlett 1998, sec. 6.9)
            w = w - q.T @ (q @ w)
        beta = w.norm()
        alphas.append(alpha)
        betas.append(beta)
        # At an invariant subspace beta is ~0 and w is rounding noise: normalised and orthogonal, it is still a
        # valid next Lanczos vector, and T stays the projection of the operator on an orthonormal basis.
        v = w / beta.clamp_min(torch.finfo(dtype).tiny)
    diag = torch.stack(alphas)
    t = torch.diag(diag)
    if k > 1:
        off = torch.stack(betas[:-1])
        t = t + torch.diag(off, 1) + torch.diag(off, -1)
    return torch.linalg.eigvalsh(t.cpu())  # k x k: on the CPU (MPS has no eigvalsh), one copy at the end


def curvature(ritz: torch.Tensor) -> dict[str, float]:
    """lambda_min, lambda_max and Li et al.'s |lambda_min / lambda_max| from the Ritz values (one host copy)."""
    lo, hi = (float(v) for v in torch.stack([ritz[0], ritz[-1]]).cpu())
    ratio = abs(lo / hi) if hi != 0 else math.inf
    return {"lambda_min": lo, "lambda_max": hi, "ratio": ratio if math.isfinite(ratio) else None}


def extreme_eigenvalues(params: Sequence[torch.Tensor], batch_losses: LossClosure, iters: int,
                        seed: int = 0) -> dict[str, float]:
    """The extreme Hessian eigenvalues of the loss w.r.t. ``params`` and their ratio."""
    dim = sum(p.numel() for p in params)
    device = params[0].device if params else torch.device("cpu")
    return curvature(lanczos(flat_hvp(params, batch_losses), dim, iters, device=device, seed=seed))
