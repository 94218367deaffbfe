"""Gradients at depth 50: a 50-layer MLP on the flattened 8x8 digits, with no connection, residual shortcuts
or highway gates, and toggles for normalisation and init. We read the per-layer gradient norms the
trainer logs (step 1 = the gradient at init, before any update) and compare the first layer (stem.fc)
with the last (head.fc).

The textbook claim (Glorot & Bengio 2010; He et al. 2016; Srivastava et al. 2015): without skips the
gradient vanishes toward the input; shortcuts or gates keep it. The story is incomplete: with BatchNorm a
deep plain net's gradient *explodes* toward the input at initialisation (Yang et al. 2019, "A Mean Field
Theory of Batch Normalization"; Balduzzi et al. 2017, "The Shattered Gradients Problem").
"""

from __future__ import annotations

import math
from typing import Any, Literal

import numpy as np
from pydantic import Field

from engine.lab.experiments.base import (
    AnalysisContext,
    Experiment,
    ExperimentOptions,
    RunPlan,
    StoredRun,
    register_experiment,
    train_config,
)
from engine.lab.experiments.common import curve_bands
from engine.lab.experiments.stats import seed_stats

Connection = Literal["none", "residual", "highway"]
VANISH, EXPLODE = 1e-3, 1e3  # first/last ratio beyond which we call it vanishing / exploding (health.py's default)


class GradientOptions(ExperimentOptions):
    seeds: int = Field(2, ge=1, le=10)
    steps: int = Field(300, gt=0)
    depth: int = Field(50, ge=3, le=200, description="weighted layers: stem + hidden layers + head")
    width: int = Field(64, ge=4, le=512)
    connections: list[Connection] = Field(default_factory=lambda: ["none", "residual", "highway"], min_length=1)
    norm: Literal["none", "batch", "layer"] = "none"
    init: Literal["default", "he", "xavier"] = "default"
    # AdamW: each variant gets a step size that does not depend on its gradient scale, so a plain net that
    # fails does so because its gradient is gone (1e-18 is far below Adam's eps), not because of the lr. With
    # SGD (lr 0.01-0.1, measured) the highway net does not train in 300 steps either.
    optimizer: Literal["sgd", "adamw"] = "adamw"
    lr: float = Field(1e-3, gt=0)
    grad_clip: float | None = Field(None, gt=0, description="clip the global gradient norm (for SGD on nets whose "
                                    "loss starts huge, e.g. residual with He init)")


def plan(opts: GradientOptions) -> list[RunPlan]:
    plans = []
    for seed in range(opts.seeds):
        cfg = train_config(opts, seed, "digits", dataset_options={"flatten": True}, optimizer=opts.optimizer,
                           lr=opts.lr, grad_clip=opts.grad_clip, log_every=max(1, min(5, opts.steps // 20)),
                           vanish_threshold=VANISH, explode_threshold=EXPLODE)
        for conn in opts.connections:
            spec = {"family": "mlp", "name": f"{conn}_mlp{opts.depth}", "input": [64], "num_classes": 10,
                    "depth": opts.depth, "width": opts.width, "connection": conn, "norm": opts.norm,
                    "init": opts.init, "activation": "relu"}
            plans.append(RunPlan(conn, seed, spec, cfg))
    return plans


def _fc_rows(ctx: AnalysisContext, run: StoredRun) -> tuple[list[str], list[int]]:
    """Names and rows of the linear layers (norm layers have parameters too; depth means the fc layers)."""
    layers = ctx.store.get_layers(run.run_id)
    idx = [i for i, layer in enumerate(layers) if layer.get("op") == "linear"]
    return [layers[i]["name"] for i in idx], idx


def _geo(values: list[float]) -> float:
    v = [x for x in values if x > 0 and math.isfinite(x)]
    return float(10 ** np.mean(np.log10(v))) if v else float("nan")


def analyse(ctx: AnalysisContext) -> dict[str, Any]:
    opts: GradientOptions = ctx.options  # type: ignore[assignment]
    numbers: dict[str, Any] = {}
    figures: dict[str, Any] = {"ratio": {}, "profile_init": {}, "profile_end": {}, "heatmap": {}, "loss": {},
                               "val_acc": {}, "alerts": {}}
    for conn, runs in ctx.by_label().items():
        firsts, lasts, ratios, ends, profiles0, profiles1, alerts, curves = [], [], [], [], [], [], [], []
        for r in runs:
            names, rows = _fc_rows(ctx, r)
            steps, mat = ctx.store.get_layer_matrix(r.run_id, "grad_norm")
            if mat.size == 0 or not rows:
                continue
            fc = mat[rows].astype(float)  # [fc layers, steps]
            firsts.append(fc[0, 0])
            lasts.append(fc[-1, 0])
            with np.errstate(divide="ignore", invalid="ignore"):
                ratio = fc[0] / fc[-1]
            ratios.append(float(ratio[0]))
            ends.append(float(ratio[-1]))
            curves.append((steps, ratio))
            profiles0.append(fc[:, 0])
            profiles1.append(fc[:, -1])
            if r is runs[0]:
                figures["heatmap"][conn] = {"steps": steps.astype(float).tolist(), "layers": names,
                                            "log10": _log10(fc)}
            alerts += [{"seed": r.plan.seed, "step": a["step"], "kind": a["kind"], "layer": a["layer"],
                        "message": a["message"]} for a in ctx.store.get_alerts(r.run_id)]
        figures["ratio"][conn] = _geo_band(curves)
        figures["profile_init"][conn] = _geo_profile(profiles0)
        figures["profile_end"][conn] = _geo_profile(profiles1)
        figures["loss"][conn] = curve_bands(ctx.store, runs, "loss")
        figures["val_acc"][conn] = curve_bands(ctx.store, runs, "val_acc")
        figures["alerts"][conn] = alerts
        acc_m, acc_s = seed_stats([r.summary.get("val_acc", float("nan")) for r in runs])
        numbers[conn] = {"first_grad_init": _geo(firsts), "last_grad_init": _geo(lasts), "ratio_init": _geo(ratios),
                         "ratio_end": _geo(ends), "val_acc": acc_m, "val_acc_std": acc_s,
                         "statuses": [r.row.get("status") for r in runs],
                         "first_alert": {a["kind"]: a["step"] for a in sorted(alerts, key=lambda a: -a["step"])}}
    claims = _claims(numbers, opts)
    return {"numbers": numbers, "figures": figures, "claims": claims, "conclusion": _conclusion(numbers, claims, opts)}


def _log10(m: np.ndarray) -> list[list[float | None]]:
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.where(m > 0, np.log10(m), np.nan)
    return [[float(v) if math.isfinite(v) else None for v in row] for row in z]


def _geo_band(curves: list[tuple[np.ndarray, np.ndarray]]) -> dict[str, Any] | None:
    """Geometric mean and min/max over seeds of a ratio curve (ratios span orders of magnitude)."""
    if not curves:
        return None
    common = curves[0][0]
    for s, _ in curves[1:]:
        common = np.intersect1d(common, s)
    rows = np.stack([v[np.searchsorted(s, common)] for s, v in curves]).astype(float)
    with np.errstate(divide="ignore", invalid="ignore"):
        logs = np.where(rows > 0, np.log10(rows), np.nan)
        mean = np.nanmean(logs, axis=0)
    lo, hi = np.nanmin(logs, axis=0), np.nanmax(logs, axis=0)

    def out(a: np.ndarray) -> list[float | None]:
        return [float(10 ** v) if math.isfinite(v) else None for v in a]

    return {"steps": common.astype(float).tolist(), "mean": out(mean), "lo": out(lo), "hi": out(hi)}


def _geo_profile(profiles: list[np.ndarray]) -> list[float | None] | None:
    if not profiles:
        return None
    n = min(len(p) for p in profiles)
    rows = np.stack([p[:n] for p in profiles]).astype(float)
    with np.errstate(divide="ignore", invalid="ignore"):
        mean = np.nanmean(np.where(rows > 0, np.log10(rows), np.nan), axis=0)
    return [float(10 ** v) if math.isfinite(v) else None for v in mean]


def _verdict(ratio: float) -> str:
    if not math.isfinite(ratio):
        return "could not be measured"
    if ratio < VANISH:
        return f"vanishes toward the input (first/last = {ratio:.2e})"
    if ratio > EXPLODE:
        return f"explodes toward the input (first/last = {ratio:.2e})"
    return f"stays within a factor {max(ratio, 1 / ratio):.3g} (first/last = {ratio:.3g})"


def _claims(numbers: dict[str, Any], opts: GradientOptions) -> list[dict[str, Any]]:
    claims = []
    if "none" in numbers:
        r = numbers["none"]["ratio_init"]
        claims.append({"claim": f"without skips the gradient vanishes toward the input at depth {opts.depth}",
                       "held": bool(r < VANISH),
                       "evidence": f"plain (norm {opts.norm}, init {opts.init}): the gradient at init {_verdict(r)}"})
    for conn, what in (("residual", "identity shortcuts"), ("highway", "highway gates")):
        if conn in numbers:
            r = numbers[conn]["ratio_init"]
            claims.append({"claim": f"{what} keep the gradient alive at depth {opts.depth}",
                           "held": bool(VANISH <= r <= EXPLODE),
                           "evidence": f"{conn}: the gradient at init {_verdict(r)}"})
    if "none" in numbers and len(numbers) > 1:
        best = max((c for c in numbers if c != "none"), key=lambda c: numbers[c]["val_acc"])
        a, b = numbers[best]["val_acc"], numbers["none"]["val_acc"]
        claims.append({"claim": "a net with skips trains better than the plain one",
                       "held": bool(a > b), "evidence": f"validation accuracy {best} {a:.3f} vs plain {b:.3f}"})
    return claims


def _conclusion(numbers: dict[str, Any], claims: list[dict[str, Any]], opts: GradientOptions) -> str:
    parts = [f"Depth-{opts.depth} MLPs on digits (norm {opts.norm}, init {opts.init}, {opts.steps} steps, "
             f"{opts.seeds} seed(s))."]
    for conn, n in numbers.items():
        seen = ", ".join(f"{k} alert first at step {s}" for k, s in n["first_alert"].items())
        parts.append(f"{conn}: first-layer gradient {n['first_grad_init']:.3g} vs last-layer {n['last_grad_init']:.3g} "
                     f"at init, ratio {n['ratio_init']:.3g} at init and {n['ratio_end']:.3g} at the end"
                     f"{'; ' + seen if seen else ''}; validation accuracy {n['val_acc']:.3f}.")
    for c in claims:
        parts.append(f"Claim '{c['claim']}': {'held' if c['held'] else 'did NOT hold'} ({c['evidence']}).")
    if "none" in numbers and numbers["none"]["ratio_init"] > EXPLODE:
        parts.append("The plain net's gradient grows toward the input instead of vanishing: with normalisation the "
                     "textbook vanishing story turns into an explosion at initialisation.")
    return " ".join(parts)


EXPERIMENT = register_experiment(Experiment(
    name="gradients",
    title="Gradients at depth 50: vanishing, exploding, and what skips do",
    claim="Glorot & Bengio 2010, He et al. 2016, Srivastava et al. 2015: without skips the gradient vanishes in "
          "a deep net; residual shortcuts and highway gates keep it. With BatchNorm it explodes instead "
          "(Yang et al. 2019).",
    options=GradientOptions,
    plan=plan,
    analyse=analyse,
    tiny={"seeds": 1, "steps": 4, "depth": 12, "width": 16, "batch_size": 16},
))
