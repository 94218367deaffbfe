"""Figures computed from a surface's numbers alone (numpy, no torch): how non-convex, how chaotic, how sharp.

- Non-convex fraction: the share of interior grid points where the surface's own curvature (second finite
  differences; in 2-D the smaller eigenvalue of the 2x2 Hessian of f(alpha, beta)) is negative. The surface is the
  loss restricted to the plotted plane, so it is convex wherever the full loss is; Li et al. 2018 (sec. 6) warn
  that the converse need not hold, which is why the full-space Hessian ratio is measured too (engine.lab.landscape
  .hessian). A point counts as non-convex when its smaller curvature is below -1e-3 times the typical curvature
  magnitude over the surface (the median |lambda_max|): the factor only keeps float32 rounding on a flat patch
  from counting (rounding is ~1e-5 there with a grid step of 0.1), it is not fitted to any result.
- Pointing to the centre: Li et al. (sec. 5) describe the no-skip ResNet-56 surface as having "large regions where
  the gradient directions ... do not point towards the minimizer at the center". The measure is the share of grid
  points (the centre left out) where the surface's finite-difference gradient has a positive component along the
  outward radius, i.e. going downhill moves toward the centre.
- Sharpness on the plane: Keskar et al. 2017's eps-sharpness, max (f(w + y) - f(w)) / (1 + f(w)) x 100 over a box
  |y| <= eps, here over the grid points with |alpha|, |beta| <= eps = 0.1 (10% of each filter's norm; at least the
  centre's neighbours when the grid is coarser).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

NEGATIVE_CURVATURE = 1e-3  # relative; see the module docstring
SHARPNESS_EPS = 0.1


def as_array(rows: Any) -> np.ndarray:
    """A list (or list of rows) with None for a diverged point -> a float array with NaN there."""
    return np.array(rows, dtype=float)  # numpy turns None into nan for a float dtype


def curvature_2d(loss: np.ndarray, alphas: np.ndarray, betas: np.ndarray) -> dict[str, np.ndarray]:
    """Eigenvalues of the finite-difference Hessian of f at interior points. ``loss[i][j]`` is f(alpha_j, beta_i)
    (rows along beta, as a contour plot draws them). Returns ``lambda_min``, ``lambda_max`` of shape [n-2, m-2]."""
    ha, hb = float(alphas[1] - alphas[0]), float(betas[1] - betas[0])
    f = loss
    c = f[1:-1, 1:-1]
    faa = (f[1:-1, 2:] - 2 * c + f[1:-1, :-2]) / ha ** 2
    fbb = (f[2:, 1:-1] - 2 * c + f[:-2, 1:-1]) / hb ** 2
    fab = (f[2:, 2:] - f[2:, :-2] - f[:-2, 2:] + f[:-2, :-2]) / (4 * ha * hb)
    mean, diff = (faa + fbb) / 2, np.sqrt(((faa - fbb) / 2) ** 2 + fab ** 2)
    return {"lambda_min": mean - diff, "lambda_max": mean + diff}


def _nonconvex(lmin: np.ndarray, lmax: np.ndarray) -> np.ndarray:
    """lambda_min below -1e-3 x the surface's typical curvature (the median |lambda_max| over its points)."""
    ok = np.isfinite(lmin) & np.isfinite(lmax)
    scale = float(np.median(np.abs(lmax[ok]))) if ok.any() else 0.0
    return ok & (lmin < -NEGATIVE_CURVATURE * scale)


def surface_measures(loss_rows: Any, alphas: Any, betas: Any | None, center_loss: float) -> dict[str, Any]:
    """The figures of a 1-D curve (``betas`` None) or a 2-D surface, JSON-ready (None for a value that does not
    exist, e.g. every point diverged)."""
    a = np.asarray(alphas, dtype=float)
    f = as_array(loss_rows)
    finite = np.isfinite(f)
    out: dict[str, Any] = {"nonfinite_fraction": float(1 - finite.mean())}
    if betas is None:
        b = None
        d2 = (f[2:] - 2 * f[1:-1] + f[:-2]) / (a[1] - a[0]) ** 2
        ok = np.isfinite(d2)
        out["nonconvex_fraction"] = _share(_nonconvex(d2, d2), ok)
        grad = np.gradient(f, a)
        radial = np.sign(a)
        ratio_map = None
    else:
        b = np.asarray(betas, dtype=float)
        eig = curvature_2d(f, a, b)
        ok = np.isfinite(eig["lambda_min"]) & np.isfinite(eig["lambda_max"])
        out["nonconvex_fraction"] = _share(_nonconvex(eig["lambda_min"], eig["lambda_max"]), ok)
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = np.abs(np.minimum(eig["lambda_min"], 0)) / np.abs(eig["lambda_max"])
        ratio_map = np.where(ok, ratio, np.nan)
        out["surface_ratio_mean"] = _mean(ratio_map)
        gb, ga = np.gradient(f, b, a)
        grad = (ga, gb)
        aa, bb = np.meshgrid(a, b)
        radial = (aa, bb)
    out["toward_center_fraction"] = _toward_center(grad, radial, f)
    out["sharpness"] = _sharpness(f, a, b, center_loss)
    out["min_loss"] = _num(np.nanmin(f)) if finite.any() else None
    out["max_loss"] = _num(np.nanmax(f)) if finite.any() else None
    out["center_is_min"] = bool(finite.any() and np.nanmin(f) >= center_loss - 1e-6 * max(1.0, abs(center_loss)))
    if ratio_map is not None:
        out["surface_ratio"] = [[_num(v) for v in row] for row in ratio_map]
    return out


def _toward_center(grad: Any, radial: Any, f: np.ndarray) -> float | None:
    """Share of non-centre points whose gradient has a positive outward component (downhill leads inward)."""
    if isinstance(grad, tuple):
        dot = grad[0] * radial[0] + grad[1] * radial[1]
        centre = (radial[0] == 0) & (radial[1] == 0)
    else:
        dot = grad * radial
        centre = radial == 0
    ok = np.isfinite(dot) & ~centre & np.isfinite(f)
    return _share(dot > 0, ok)


def _sharpness(f: np.ndarray, a: np.ndarray, b: np.ndarray | None, f0: float) -> float | None:
    step = abs(float(a[1] - a[0]))
    eps = max(SHARPNESS_EPS, step)
    if b is None:
        box = np.abs(a) <= eps + 1e-12
    else:
        aa, bb = np.meshgrid(a, b)
        box = (np.abs(aa) <= eps + 1e-12) & (np.abs(bb) <= max(SHARPNESS_EPS, abs(float(b[1] - b[0]))) + 1e-12)
    vals = f[box]
    if not np.isfinite(vals).all():
        return None
    return _num(100 * (vals.max() - f0) / (1 + f0))


def _share(mask: np.ndarray, valid: np.ndarray) -> float | None:
    n = int(valid.sum())
    return float((mask & valid).sum() / n) if n else None


def _mean(x: np.ndarray) -> float | None:
    return _num(np.nanmean(x)) if np.isfinite(x).any() else None


def _num(x: Any) -> float | None:
    v = float(x)
    return v if math.isfinite(v) else None
