"""Gradients at depth 50: which of initialisation, normalisation and shortcuts keeps the gradient alive.

Depth-50 MLPs on the flattened 8x8 digits, as a grid of connection (none = plain, residual; highway on request)
x condition: ``default`` (PyTorch's default init, no normalisation), ``he`` (He et al. 2015 init, no
normalisation), ``batch`` (default init, BatchNorm after every linear layer). We read the per-layer gradient
norms the trainer logs at step 1 (the gradient at init, before any update) and compare the first layer
(stem.fc) with the last (head.fc), per seed, then train each net for the rest of the run.

What each source showed, and so what each claim tests:

- Glorot & Bengio 2010 (sec. 4.2.2, fig. 7): with the standard init U[-1/sqrt(n), 1/sqrt(n)] (PyTorch's default
  for Linear, Var = 1/(3n)), back-propagated gradients shrink toward the input (5-layer tanh nets).
- He et al. 2015 ("Delving Deep into Rectifiers", sec. 2.2, eq. 14): in a ReLU net each layer multiplies the
  backward variance by n Var(w) / 2: 1/6 for the default init (so about 10^-19 over 48 layers), exactly 1 for
  their init Var = 2/n, which is why their 30-layer plain net trains and the Xavier one stalls (fig. 3).
- He et al. 2016 (sec. 4.1): their plain nets use BatchNorm, and "the backward propagated gradients exhibit
  healthy norms with BN": the degradation they report is not a vanishing gradient.
- Yang et al. 2019 ("A Mean Field Theory of Batch Normalization", sec. 3): at init BatchNorm makes the gradient
  of a plain net *explode* toward the input, about sqrt(pi / (pi - 1)) ~ 1.21 per ReLU layer in norm.
- He et al. 2016b ("Identity Mappings", sec. 3, eq. 5): with identity shortcuts the gradient at any layer
  contains the output's gradient directly, so it does not vanish.
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
from engine.lab.experiments.claims import Claim, judge_all
from engine.lab.experiments.common import curve_bands
from engine.lab.experiments.report import conclusion
from engine.lab.experiments.stats import seed_stats

Connection = Literal["none", "residual", "highway"]
Condition = Literal["default", "he", "batch"]
VANISH, EXPLODE = 1e-3, 1e3  # first/last ratio beyond which we call it vanishing / exploding (health.py's default)
CONDITIONS: dict[str, dict[str, str]] = {"default": {"init": "default", "norm": "none"},
                                         "he": {"init": "he", "norm": "none"},
                                         "batch": {"init": "default", "norm": "batch"}}


def label(conn: str, cond: str) -> str:
    return f"{'plain' if conn == 'none' else conn}/{cond}"


CLAIMS = (
    Claim("plain_default_vanishes", "plain, default init: the gradient vanishes toward the input",
          "Glorot & Bengio 2010, sec. 4.2.2, fig. 7; He et al. 2015, sec. 2.2, eq. 14",
          "variance of back-propagated gradients per layer in 5-layer tanh nets with the standard init "
          "(Glorot & Bengio); the ReLU backward-variance factor n Var(w) / 2 per layer (He et al.)",
          "log10(first-layer / last-layer gradient norm) at init", "below", math.log10(VANISH),
          "10^-3 is the project's vanishing threshold (health monitor), fixed before these runs; eq. 14 predicts "
          "(1/6)^(48/2), about 10^-19, for 48 hidden layers", unit="log10"),
    Claim("plain_he_preserved", "plain, He init: the gradient keeps its size from the last layer to the first",
          "He et al. 2015, sec. 2.2, eq. 14 and fig. 3",
          "backward-variance factor n Var(w) / 2 = 1 for Var = 2/n; a 30-layer ReLU net trains with it",
          "|log10(first / last gradient norm)| at init", "below", 1.0,
          "eq. 14 predicts a ratio of 1 in expectation; one order of magnitude leaves room for the fluctuation "
          "of 50 layers of finite width (64)", unit="log10"),
    Claim("plain_bn_healthy", "plain, BatchNorm: the gradient does not vanish",
          "He et al. 2016, sec. 4.1",
          "gradient norms of their BN plain nets on ImageNet / CIFAR ('healthy norms with BN')",
          "log10(first / last gradient norm) at init", "above", math.log10(VANISH),
          "not vanishing = above the same 10^-3 vanishing threshold as the first claim", unit="log10"),
    Claim("plain_bn_explodes", "plain, BatchNorm: the gradient grows toward the input at init",
          "Yang et al. 2019, sec. 3 (gradient explosion theorem)",
          "mean-field gradient norm at init in deep BN nets, explosion rate per layer (about 1.21 in norm for ReLU)",
          "log10(first / last gradient norm) at init", "above", math.log10(EXPLODE),
          "10^3 mirrors the vanishing threshold; the theory predicts about 1.21^48, roughly 10^4", unit="log10"),
    Claim("residual_not_vanishing", "residual, default init: identity shortcuts keep the gradient from vanishing",
          "He et al. 2016b, sec. 3, eq. 5",
          "the form of the gradient through identity shortcuts (analysis; CIFAR-10 training curves)",
          "log10(first / last gradient norm) at init", "above", math.log10(VANISH),
          "not vanishing = above the same 10^-3 threshold as the plain net's claim", unit="log10"),
    Claim("he_init_trains_better", "plain nets: He init trains better than the default init",
          "He et al. 2015, fig. 3",
          "top-1 error over epochs of a 30-layer ReLU net, their init vs Xavier's (ImageNet)",
          "validation accuracy, plain/he minus plain/default", "above", 0.0,
          "the paper claims a direction (one trains, one stalls), not a size", unit="points"),
    Claim("shortcuts_train_better", "default init: the residual net trains better than the plain net",
          "He et al. 2016b, sec. 3 (eq. 4-5)",
          "the analysis of the gradient through identity shortcuts (their experiments: deep residual nets on "
          "CIFAR-10 and ImageNet)", "validation accuracy, residual/default minus plain/default", "above", 0.0,
          "a direction, not a size", unit="points"),
)

# claim -> (variant whose ratio it reads, transform), or the pair of variants whose accuracies it subtracts
_RATIO_CLAIMS = {"plain_default_vanishes": ("plain/default", None), "plain_he_preserved": ("plain/he", abs),
                 "plain_bn_healthy": ("plain/batch", None), "plain_bn_explodes": ("plain/batch", None),
                 "residual_not_vanishing": ("residual/default", None)}
_ACC_CLAIMS = {"he_init_trains_better": ("plain/he", "plain/default"),
               "shortcuts_train_better": ("residual/default", "plain/default")}


class GradientOptions(ExperimentOptions):
    seeds: int = Field(3, ge=1, le=10)
    steps: int = Field(300, gt=0)
    depth: int = Field(50, ge=3, le=200, description="weighted layers: stem + hidden layers + head")
    width: int = Field(64, ge=4, le=512)
    connections: list[Connection] = Field(default_factory=lambda: ["none", "residual"], min_length=1)
    conditions: list[Condition] = Field(default_factory=lambda: ["default", "he", "batch"], min_length=1,
                                        description="default: default init, no norm; he: He init; batch: "
                                        "default init + BatchNorm")
    # AdamW: each variant gets a step size that does not depend on its gradient scale, so a plain net that
    # fails does so because its gradient is gone (1e-18 is far below Adam's eps), not because of the lr.
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
            for cond in opts.conditions:
                spec = {"family": "mlp", "name": f"{conn}_mlp{opts.depth}_{cond}", "input": [64], "num_classes": 10,
                        "depth": opts.depth, "width": opts.width, "connection": conn, "activation": "relu",
                        **CONDITIONS[cond]}
                plans.append(RunPlan(label(conn, cond), seed, spec, cfg))
    return plans


def _fc_rows(ctx: AnalysisContext, run: StoredRun) -> tuple[list[str], list[int]]:
    """Names and rows of the linear layers (norm layers have parameters too; depth means the fc layers)."""
    layers = ctx.store.get_layers(run.run_id)
    idx = [i for i, layer in enumerate(layers) if layer.get("op") == "linear"]
    return [layers[i]["name"] for i in idx], idx


def _geo(values: list[float]) -> float:
    v = [x for x in values if x > 0 and math.isfinite(x)]
    return float(10 ** np.mean(np.log10(v))) if v else float("nan")


def _log10(x: float) -> float:
    return math.log10(x) if x > 0 and math.isfinite(x) else float("nan")


def analyse(ctx: AnalysisContext) -> dict[str, Any]:
    opts: GradientOptions = ctx.options  # type: ignore[assignment]
    numbers: dict[str, Any] = {}
    figures: dict[str, Any] = {"ratio": {}, "profile_init": {}, "profile_end": {}, "heatmap": {}, "loss": {},
                               "val_acc": {}, "alerts": {}}
    by_seed: dict[str, dict[int, dict[str, float]]] = {}
    for var, runs in ctx.by_label().items():
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
            by_seed.setdefault(var, {})[r.plan.seed] = {"log_ratio": _log10(float(ratio[0])),
                                                        "val_acc": float(r.summary.get("val_acc", float("nan")))}
            curves.append((steps, ratio))
            profiles0.append(fc[:, 0])
            profiles1.append(fc[:, -1])
            if r is runs[0]:
                figures["heatmap"][var] = {"steps": steps.astype(float).tolist(), "layers": names,
                                           "log10": _log10_matrix(fc)}
            alerts += [{"seed": r.plan.seed, "step": a["step"], "kind": a["kind"], "layer": a["layer"],
                        "message": a["message"]} for a in ctx.store.get_alerts(r.run_id)]
        figures["ratio"][var] = _geo_band(curves)
        figures["profile_init"][var] = _geo_profile(profiles0)
        figures["profile_end"][var] = _geo_profile(profiles1)
        figures["loss"][var] = curve_bands(ctx.store, runs, "loss")
        figures["val_acc"][var] = curve_bands(ctx.store, runs, "val_acc")
        figures["alerts"][var] = alerts
        acc_m, acc_s = seed_stats([r.summary.get("val_acc", float("nan")) for r in runs])
        numbers[var] = {"first_grad_init": _geo(firsts), "last_grad_init": _geo(lasts), "ratio_init": _geo(ratios),
                        "ratio_end": _geo(ends), "val_acc": acc_m, "val_acc_std": acc_s,
                        "statuses": [r.row.get("status") for r in runs],
                        "first_alert": {a["kind"]: a["step"] for a in sorted(alerts, key=lambda a: -a["step"])}}
    claims = judge_all(CLAIMS, claim_values(by_seed))
    return {"numbers": numbers, "figures": figures, "claims": claims,
            "conclusion": _conclusion(numbers, claims, opts, ctx)}


def claim_values(by_seed: dict[str, dict[int, dict[str, float]]]) -> dict[str, list[float | None]]:
    """Per-seed values of each claim's statistic from {variant: {seed: {"log_ratio", "val_acc"}}}; a claim whose
    variants are not in the experiment is left out."""
    values: dict[str, list[float | None]] = {}
    for key, (var, transform) in _RATIO_CLAIMS.items():
        if var in by_seed:
            vals = [s["log_ratio"] for s in by_seed[var].values()]
            values[key] = [transform(v) if transform else v for v in vals]
    for key, (a, b) in _ACC_CLAIMS.items():
        if a in by_seed and b in by_seed:
            seeds = sorted(set(by_seed[a]) & set(by_seed[b]))
            values[key] = [by_seed[a][s]["val_acc"] - by_seed[b][s]["val_acc"] for s in seeds]
    return values


def _log10_matrix(m: np.ndarray) -> list[list[float | None]]:
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

    return {"steps": common.astype(float).tolist(), "mean": out(mean), "lo": out(lo), "hi": out(hi),
            "seeds": len(curves)}


def _geo_profile(profiles: list[np.ndarray]) -> list[float | None] | None:
    if not profiles:
        return None
    n = min(len(p) for p in profiles)
    rows = np.stack([p[:n] for p in profiles]).astype(float)
    with np.errstate(divide="ignore", invalid="ignore"):
        mean = np.nanmean(np.where(rows > 0, np.log10(rows), np.nan), axis=0)
    return [float(10 ** v) if math.isfinite(v) else None for v in mean]


def _describe(ratio: float) -> str:
    if not math.isfinite(ratio):
        return "could not be measured"
    if ratio < VANISH:
        return f"vanishes toward the input (first/last {ratio:.2g})"
    if ratio > EXPLODE:
        return f"explodes toward the input (first/last {ratio:.2g})"
    return f"stays within a factor {max(ratio, 1 / ratio):.3g} (first/last {ratio:.3g})"


def _conclusion(numbers: dict[str, Any], claims: list[dict[str, Any]], opts: GradientOptions,
                ctx: AnalysisContext) -> str:
    head = (f"Depth-{opts.depth} MLPs (width {opts.width}) on digits, {opts.steps} {opts.optimizer} steps, "
            f"{opts.seeds} seed(s). At init the gradient ")
    head += "; ".join(f"{var}: {_describe(n['ratio_init'])}" for var, n in numbers.items()) + ". "
    head += "Validation accuracy after training: " + ", ".join(
        f"{var} {n['val_acc']:.3f}" for var, n in numbers.items()) + "."
    untrained = [var for var, n in numbers.items() if math.isfinite(n["val_acc"]) and n["val_acc"] < 0.2]
    if untrained:
        head += (" Did not train (validation accuracy under 20%, chance is 10%): " + ", ".join(untrained) + ".")
    return conclusion(head, claims, EXPERIMENT.setup, ctx)


EXPERIMENT = register_experiment(Experiment(
    name="gradients",
    title="Gradients at depth 50: init, normalisation and shortcuts",
    claim="Glorot & Bengio 2010 and He et al. 2015: with the default init a deep plain net's gradient vanishes "
          "toward the input, with He init it keeps its size; He et al. 2016: with BatchNorm it is healthy (Yang et "
          "al. 2019: it even grows); He et al. 2016b: identity shortcuts keep it.",
    options=GradientOptions,
    plan=plan,
    analyse=analyse,
    tiny={"seeds": 1, "steps": 4, "depth": 12, "width": 16, "batch_size": 16},
    claims=CLAIMS,
    setup="Depth-50 fully connected ReLU nets (width 64) on the 8x8 digits, AdamW 1e-3 for 300 steps, 3 seeds. "
          "The sources used other nets: Glorot & Bengio 5-layer tanh nets on Shapeset and MNIST, He et al. 2015 "
          "30-layer conv nets on ImageNet, Yang et al. a mean-field theory; the gradient is read once, at init, "
          "as the ratio of the first and last linear layers' weight-gradient norms.",
    paper={"seeds": 5, "steps": 3000, "width": 256},
))
