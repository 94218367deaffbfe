"""Conclusions in words, computed from a landscape's or a shattering measure's numbers (never canned text).

The words for a surface's shape follow the share of its points with negative curvature, in three bands stated
here so a reader can check them: under 5% "nearly convex", 5-25% "convex with non-convex patches", over 25%
"strongly non-convex". They describe a single surface; the `landscape` experiment's claims compare nets with the
seeds' spread instead (engine.lab.experiments.exp_landscape).
"""

from __future__ import annotations

from typing import Any

NEARLY_CONVEX, PATCHY = 0.05, 0.25


def _pct(v: float | None) -> str:
    return "n/a" if v is None else f"{100 * v:.0f}%"


def _g(v: float | None, digits: int = 3) -> str:
    return "n/a" if v is None else f"{v:.{digits}g}"


def shape_words(nonconvex: float | None) -> str:
    if nonconvex is None:
        return "of unknown shape (too few finite points)"
    if nonconvex < NEARLY_CONVEX:
        return "nearly convex"
    if nonconvex <= PATCHY:
        return "convex with non-convex patches"
    return "strongly non-convex"


def _hessian_text(h: dict[str, Any] | None) -> str:
    if not h or not h.get("center"):
        return ""
    c = h["center"]
    text = (f" The Hessian at the trained weights has lambda_max {_g(c['lambda_max'])} (sharpness) and lambda_min "
            f"{_g(c['lambda_min'])}, so |lambda_min / lambda_max| = {_g(c.get('ratio'), 2)}")
    if h.get("ratio_mean") is not None:
        text += f"; over the {len(h['alphas'])}x{len(h['betas'])} Hessian grid its mean is {_g(h['ratio_mean'], 2)}"
    return text + " (Li et al. 2018 sec. 6: near 0 means nearly convex, large means strong negative curvature)."


def describe_surface(r: dict[str, Any]) -> str:
    """One paragraph on one surface."""
    m = r.get("measures") or {}
    name = r.get("run_name") or r.get("architecture") or "the run"
    if r.get("direction") == "init":
        where = (f"Along the straight line from the initial (alpha -1) to the final weights (alpha 0) of {name}, "
                 f"{r['grid']} points, span {r['span']:g}")
    else:
        grid = f"{r['grid']}x{r['grid']} grid" if r["dim"] == 2 else f"{r['grid']} points"
        where = (f"Around the trained weights of {name} ({grid}, filter-normalised random direction"
                 f"{'s' if r['dim'] == 2 else ''}, span ±{r['span']:g}, seed {r['seed']})")
    text = (f"{where}, on {r['samples']} training samples: the loss is {_g(r.get('center_loss'))} at the centre and "
            f"ranges from {_g(m.get('min_loss'))} to {_g(m.get('max_loss'))}. ")
    if m.get("nonfinite_fraction"):
        text += f"It overflows at {_pct(m['nonfinite_fraction'])} of the points. "
    text += (f"The {'surface' if r['dim'] == 2 else 'curve'} is {shape_words(m.get('nonconvex_fraction'))}: "
             f"{_pct(m.get('nonconvex_fraction'))} of its interior points have negative curvature, and going "
             f"downhill leads toward the centre at {_pct(m.get('toward_center_fraction'))} of the points.")
    if r.get("direction") != "init" and m.get("center_is_min") is False:
        text += (f" A point of this plane is lower than the centre ({_g(m.get('min_loss'))} vs "
                 f"{_g(r.get('center_loss'))}): along these directions the run stopped short of a minimum.")
    if m.get("sharpness") is not None:
        where = "plane" if r["dim"] == 2 else "line"
        text += f" Sharpness on the {where} (Keskar et al. 2017, box 0.1): {_g(m['sharpness'])}."
    return text + _hessian_text(r.get("hessian"))


def compare_surfaces(a: dict[str, Any], b: dict[str, Any]) -> str:
    """Which of two surfaces is the more non-convex, in the measures both have."""
    ma, mb = a.get("measures") or {}, b.get("measures") or {}
    na, nb = (r.get("run_name") or r.get("architecture") or "?" for r in (a, b))
    fa, fb = ma.get("nonconvex_fraction"), mb.get("nonconvex_fraction")
    if fa is None or fb is None:
        return f"{na} and {nb} cannot be compared: one surface has too few finite points."
    if abs(fa - fb) < 1e-12:
        lead = f"{na} and {nb} are equally non-convex on these planes ({_pct(fa)} of points)."
    else:
        more, less = (na, nb) if fa > fb else (nb, na)
        lead = (f"{more} is the more non-convex: {_pct(max(fa, fb))} of its surface's points have negative "
                f"curvature against {_pct(min(fa, fb))} for {less}.")
    ta, tb = ma.get("toward_center_fraction"), mb.get("toward_center_fraction")
    text = f"{lead} Downhill leads to the centre at {_pct(ta)} ({na}) vs {_pct(tb)} ({nb}) of the points."
    ha, hb = ((r.get("hessian") or {}).get("center") or {} for r in (a, b))
    if ha.get("ratio") is not None and hb.get("ratio") is not None:
        text += (f" Hessian at the centre: |lambda_min / lambda_max| {_g(ha['ratio'], 2)} vs {_g(hb['ratio'], 2)}, "
                 f"lambda_max {_g(ha['lambda_max'])} vs {_g(hb['lambda_max'])}.")
    if (a.get("seed"), a.get("span"), a.get("grid")) != (b.get("seed"), b.get("span"), b.get("grid")):
        text += " Note: the two surfaces differ in seed, span or grid, so they are not on the same footing."
    return text


def describe_shatter(result: dict[str, Any]) -> str:
    """Each net's input-gradient correlation against white and brown noise (Balduzzi et al. 2017, fig. 1-2)."""
    nets = result.get("nets") or []
    if not nets:
        return "No nets measured."
    ref = nets[0].get("references", {})
    white, brown = (ref.get(k, {}).get("lag1") for k in ("white noise", "brown noise"))
    parts = []
    for n in nets:
        lag1 = n["lag1"]
        nearer = "white noise (shattered)" if white is not None and brown is not None and \
            abs(lag1 - white) < abs(lag1 - brown) else "brown noise (correlated)"
        parts.append(f"{n.get('label') or n['name']}: lag-1 autocorrelation {lag1:.2f}, correlation length "
                     f"{n['correlation_length']:.1f} points, nearer {nearer}")
    text = (f"At initialisation, along a line of {nets[0]['points']} inputs ({nets[0]['inits']} initialisation(s) "
            f"averaged): " + "; ".join(parts) + ".")
    if white is not None and brown is not None:
        text += f" References of the same length: white noise {white:.2f}, brown noise {brown:.2f}."
    if len(nets) >= 2:
        lo, hi = min(nets, key=lambda n: n["lag1"]), max(nets, key=lambda n: n["lag1"])
        text += (f" {lo.get('label') or lo['name']}'s gradient is the more shattered (Balduzzi et al.: deep plain "
                 f"nets decorrelate, residual nets keep the correlation).") if lo is not hi else ""
    return text
