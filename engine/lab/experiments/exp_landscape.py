"""Loss landscapes, plain vs residual (Li et al. 2018, "Visualizing the Loss Landscape of Neural Nets", NeurIPS,
sec. 5-6 and fig. 5 / 8), with shattered gradients at initialisation (Balduzzi et al. 2017, ICML, sec. 3, fig. 2).

Li et al. (sec. 5): "ResNet-20-noshort has a fairly benign landscape ... ResNet-56-noshort has dramatic
non-convexities and large regions where the gradient directions ... do not point towards the minimizer at the
center", while the nets with skip connections stay nearly convex at every depth; their sec. 6 maps |lambda_min /
lambda_max| of the Hessian over the plane: yellow (non-convex) regions for the no-short net, blue for ResNet-56.
So the default depth is 56, where they say it shows, scaled for a CPU (narrower, smaller images, fewer steps).

Runs: plain{depth} and resnet{depth} over the seeds, one shared config (paired by seed). The analysis computes each
run's 2-D surface on the same direction seed, span, grid and samples (stored with the run, so the Landscape and
Compare pages show them), a Hessian grid, and the shattering measure of both nets at each seed's initialisation.
Claims are registered below, before any run; the seeds' t-margin decides (engine.lab.experiments.claims).
"""

from __future__ import annotations

from typing import Any

from pydantic import Field, field_validator

from engine.lab.experiments.base import AnalysisContext, Experiment, RunPlan, register_experiment
from engine.lab.experiments.claims import HELD, Claim, judge_all
from engine.lab.experiments.common import ImageOptions, check_depth, cifar_net, curve_bands, error, image_config
from engine.lab.experiments.stats import series, tail_mean

TRAINED = 0.80  # end training error below which a net counts as trained (He et al. 2016 sec. 4.2's 80% mark)
_LI = "Li et al. 2018 (NeurIPS), sec. 5, fig. 5"
_LI6 = "Li et al. 2018 (NeurIPS), sec. 6, fig. 8"
_BALDUZZI = "Balduzzi et al. 2017 (ICML), sec. 3, fig. 2"
_LI_MEASURED = ("2-D surfaces of CIFAR-10 ResNet-20/56/110 with and without shortcuts, trained to convergence, "
                "filter-normalised directions, span 1, 51x51 grid; judged by eye (no figure of non-convexity given)")
_DIRECTION = "the paper claims a direction, not a size: any difference the seeds' margin clears"


def registered_claims(depth: int) -> tuple[Claim, ...]:
    plain, resnet = f"plain{depth}", f"resnet{depth}"

    def trains(net: str) -> Claim:
        return Claim(f"{net}_trains", f"{net} trains (leaves chance)", "He et al. 2016 (CVPR), sec. 4.2",
                     "the training error below which that paper treats a net as training", f"end training error of "
                     f"{net}", "below", TRAINED, "a landscape is read around a trained point (Li et al. drew "
                     "converged nets); the 80% mark is He et al.'s own (chance: 90%)", unit="points", check=True)

    needs = (f"{plain}_trains", f"{resnet}_trains")
    return (
        trains(plain), trains(resnet),
        Claim("plain_more_nonconvex", f"without shortcuts the surface is more non-convex: {plain} has a larger "
              f"share of points with negative curvature than {resnet}", _LI, _LI_MEASURED,
              f"non-convex share of the 2-D surface, {plain} minus {resnet}", "above", 0.0, _DIRECTION,
              unit="points", requires=needs),
        Claim("plain_not_toward_center", f"on {plain}'s surface downhill leads to the centre at fewer points than "
              f"on {resnet}'s ('gradient directions do not point towards the minimizer')", _LI, _LI_MEASURED,
              f"share of points where downhill leads to the centre, {resnet} minus {plain}", "above", 0.0, _DIRECTION,
              unit="points", requires=needs),
        Claim("plain_hessian_ratio", f"the Hessian's |lambda_min / lambda_max| over the plane is larger for {plain} "
              f"than for {resnet}", _LI6, "the ratio mapped over the 2-D plane of ResNet-56 with and without "
              "shortcuts (Lanczos on the full Hessian), judged by eye", f"mean ratio over the Hessian grid, {plain} "
              f"minus {resnet}", "above", 0.0, _DIRECTION, requires=needs),
        Claim("plain_shattered", f"at initialisation {plain}'s input gradient is less correlated along a line than "
              f"{resnet}'s (shattered gradients)", _BALDUZZI, "autocorrelation of the gradients of 256 inputs on a "
              "line, plain feed-forward rectifier nets vs ResNets (with BN: correlation ~2^-L vs ~1/sqrt(L))",
              f"lag-1 autocorrelation of dLoss/dInput, {resnet} minus {plain}", "above", 0.0, _DIRECTION),
    )


class LandscapeExperimentOptions(ImageOptions):
    seeds: int = Field(2, ge=1, le=10, description="runs per net (paired by seed); one seed is always inconclusive")
    steps: int = Field(400, gt=0)
    image_size: int = Field(16, ge=8, le=64, description="built-in data only: image side (CIFAR is 32)")
    width: int = Field(4, ge=2, le=64, description="first-stage width; stages are w, 2w, 4w (Li et al.: 16)")
    depth: int = Field(56, description="depth of both nets (6n + 2); Li et al.: non-convexity shows at 56, not 20")
    grid: int = Field(15, ge=5, le=51, description="surface grid per axis, odd (Li et al.: 51)")
    span: float = Field(1.0, gt=0, le=5, description="surface axes from -span to span (Li et al.: 1)")
    direction_seed: int = Field(0, ge=0, description="the same random directions' seed for every run")
    samples: int = Field(256, ge=16, le=50_000, description="training samples the surfaces are measured on")
    hessian_grid: int = Field(3, ge=3, le=9, description="Hessian grid per axis, odd (Lanczos at each point)")
    hessian_iters: int = Field(10, ge=2, le=100, description="Lanczos iterations per Hessian point")
    shatter_points: int = Field(256, ge=16, le=4096, description="inputs on the line (Balduzzi et al.: 256)")

    @field_validator("depth")
    @classmethod
    def _depth(cls, v: int) -> int:
        return check_depth(v)

    @field_validator("grid", "hessian_grid")
    @classmethod
    def _odd(cls, v: int) -> int:
        if v % 2 == 0:
            raise ValueError(f"must be odd so the trained weights sit at the centre, got {v}; use {v + 1}")
        return v


def plan(opts: LandscapeExperimentOptions) -> list[RunPlan]:
    plans = []
    for seed in range(opts.seeds):
        cfg = image_config(opts, seed)
        for shortcut in ("none", "A"):
            spec = cifar_net(opts.depth, shortcut, opts)
            plans.append(RunPlan(spec["name"], seed, spec, cfg))
    return plans


def surface_options(opts: LandscapeExperimentOptions) -> dict[str, Any]:
    return {"dim": 2, "grid": opts.grid, "span": opts.span, "seed": opts.direction_seed, "samples": opts.samples,
            "batch_size": min(256, opts.samples), "hessian": "grid", "hessian_grid": opts.hessian_grid,
            "hessian_iters": opts.hessian_iters, "hessian_samples": min(256, opts.samples), "device": opts.device}


def _surface(ctx: AnalysisContext, run_id: int, options: dict[str, Any]) -> dict[str, Any] | None:
    """The run's stored surface with these options, else computed now (and stored with the run)."""
    from engine.lab.landscape.record import run_landscape
    from engine.lab.landscape.surface import SurfaceDone
    from engine.store.landscapes import LandscapeStore

    rec = LandscapeStore(ctx.store.path).latest(run_id, **{k: options[k] for k in ("dim", "grid", "span", "seed",
                                                                                   "samples", "hessian_grid")})
    if rec is not None and rec.get("result") and (rec["result"].get("hessian") or {}).get("iters") == \
            options["hessian_iters"]:
        return rec["result"]
    result = None
    for ev in run_landscape(ctx.store.path, run_id, options):
        if isinstance(ev, SurfaceDone):
            result = ev.result
        elif getattr(ev, "phase", None):
            ctx.report(f"run #{run_id}: {ev.phase}")
    return result


def _end_error(ctx: AnalysisContext, run: Any) -> float | None:
    s = series(run, ctx.store, "acc")
    return float(tail_mean(error(s[1]))) if s is not None else None


def analyse(ctx: AnalysisContext) -> dict[str, Any]:
    from engine.lab.landscape.record import shatter_specs

    opts: LandscapeExperimentOptions = ctx.options  # type: ignore[assignment]
    plain, resnet = f"plain{opts.depth}", f"resnet{opts.depth}"
    groups = ctx.by_label()
    options = surface_options(opts)
    per_seed: dict[int, dict[str, Any]] = {}
    for label in (plain, resnet):
        for r in groups.get(label, []):
            entry = per_seed.setdefault(r.plan.seed, {})
            entry[f"{label}_error"] = _end_error(ctx, r)
            entry[f"{label}_run"] = r.run_id
            if r.ok:
                ctx.report(f"landscape of {r.plan.run_name}")
                entry[label] = _surface(ctx, r.run_id, options)
    shatters: dict[int, dict[str, Any]] = {}
    for seed in sorted(per_seed):
        ctx.report(f"shattered gradients at init, seed {seed}")
        specs = [cifar_net(opts.depth, sc, opts) for sc in ("none", "A")]
        shatters[seed] = shatter_specs(ctx.store.path, specs, {"points": opts.shatter_points, "inits": 1,
                                                               "seed": seed, "device": opts.device}) or {}
    values = claim_values(per_seed, shatters, plain, resnet)
    claims = judge_all(registered_claims(opts.depth), values)
    numbers = {"per_seed": {str(s): _numbers(e, shatters.get(s), plain, resnet) for s, e in per_seed.items()}}
    first = min(per_seed) if per_seed else None
    figures: dict[str, Any] = {
        "surfaces": {k: per_seed[first].get(k) for k in (plain, resnet)} if first is not None else {},
        "loss": {label: curve_bands(ctx.store, groups.get(label, []), "loss") for label in (plain, resnet)},
        "shatter": shatters.get(first) if first is not None else None,
    }
    return {"numbers": numbers, "figures": figures, "claims": claims, "conclusion": conclusion(claims, opts, ctx)}


def _m(result: dict[str, Any] | None, key: str) -> float | None:
    return ((result or {}).get("measures") or {}).get(key)


def _h(result: dict[str, Any] | None) -> float | None:
    return ((result or {}).get("hessian") or {}).get("ratio_mean")


def _lag1(shatter: dict[str, Any] | None, index: int) -> float | None:
    nets = (shatter or {}).get("nets") or []
    return nets[index]["lag1"] if len(nets) > index else None


def _diff(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None else a - b


def claim_values(per_seed: dict[int, dict[str, Any]], shatters: dict[int, dict[str, Any]], plain: str,
                 resnet: str) -> dict[str, list[float | None]]:
    """Per-seed values of each registered statistic (the shatter result lists plain first, then resnet)."""
    seeds = sorted(per_seed)
    e = [per_seed[s] for s in seeds]
    return {
        f"{plain}_trains": [x.get(f"{plain}_error") for x in e],
        f"{resnet}_trains": [x.get(f"{resnet}_error") for x in e],
        "plain_more_nonconvex": [_diff(_m(x.get(plain), "nonconvex_fraction"), _m(x.get(resnet), "nonconvex_fraction"))
                                 for x in e],
        "plain_not_toward_center": [_diff(_m(x.get(resnet), "toward_center_fraction"),
                                          _m(x.get(plain), "toward_center_fraction")) for x in e],
        "plain_hessian_ratio": [_diff(_h(x.get(plain)), _h(x.get(resnet))) for x in e],
        "plain_shattered": [_diff(_lag1(shatters.get(s), 1), _lag1(shatters.get(s), 0)) for s in seeds],
    }


def _numbers(e: dict[str, Any], shatter: dict[str, Any] | None, plain: str, resnet: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for i, net in enumerate((plain, resnet)):
        r = e.get(net)
        out[net] = {"run_id": e.get(f"{net}_run"), "train_error": e.get(f"{net}_error"),
                    "center_loss": (r or {}).get("center_loss"),
                    "nonconvex_fraction": _m(r, "nonconvex_fraction"),
                    "toward_center_fraction": _m(r, "toward_center_fraction"), "sharpness": _m(r, "sharpness"),
                    "hessian_ratio_mean": _h(r), "hessian_center": ((r or {}).get("hessian") or {}).get("center"),
                    "shatter_lag1": _lag1(shatter, i), "job_id": (r or {}).get("job_id")}
    return out


def conclusion(claims: list[dict[str, Any]], opts: LandscapeExperimentOptions, ctx: AnalysisContext) -> str:
    head = (f"plain{opts.depth} vs resnet{opts.depth} (width {opts.width}, {opts.image_size}px {opts.dataset}, "
            f"{opts.steps} steps, {opts.seeds} seed(s)); surfaces {opts.grid}x{opts.grid}, span ±{opts.span:g}, "
            f"direction seed {opts.direction_seed}, {opts.samples} samples.")
    parts = [head]
    untrained = [c["key"].removesuffix("_trains") for c in claims if c.get("check") and c["verdict"] != HELD]
    if untrained:  # said first and plainly, as the other experiments do: the surfaces of an untrained net
        parts.append(f"{' and '.join(untrained)} did not clearly train (end training error not below "
                     f"{100 * TRAINED:.0f}% on every seed, He et al.'s mark): a landscape read around a point that "
                     "never left chance says nothing about Li et al.'s finding, so the claims that need a trained "
                     "pair are inconclusive whatever the surfaces look like.")
    for c in claims:
        kind = "Check" if c.get("check") else "Claim"
        parts.append(f"{kind} {c['verdict']}: {c['claim']} ({c['evidence']}).")
    findings = [c for c in claims if not c.get("check")]
    held = sum(c["verdict"] == HELD for c in findings)
    parts.append(f"{held} of {len(findings)} claims held.")
    failed = [f"{r.plan.run_name} ({r.row.get('status')})" for r in ctx.runs if not r.ok]
    if failed:
        parts.append("Runs that did not finish (no surface): " + ", ".join(failed) + ".")
    return " ".join(parts)


EXPERIMENT = register_experiment(Experiment(
    name="landscape",
    title="Loss landscapes: plain vs residual",
    claim="Li et al. 2018 (sec. 5-6): without skip connections a deep net's loss surface turns chaotic and "
          "non-convex (ResNet-56-noshort), with them it stays nearly convex; Balduzzi et al. 2017: a plain net's "
          "input gradients are shattered at initialisation, a ResNet's stay correlated.",
    options=LandscapeExperimentOptions,
    plan=plan,
    analyse=analyse,
    tiny={"seeds": 2, "steps": 4, "depth": 8, "width": 2, "image_size": 16, "train_size": 64, "val_size": 16,
          "batch_size": 16, "grid": 5, "samples": 32, "hessian_grid": 3, "hessian_iters": 3, "shatter_points": 16},
    claims=registered_claims(56),
    setup="plain-56 and ResNet-56 (shortcut A) at width 4 instead of 16, on 16x16 generated 'textures' instead of "
          "CIFAR-10, 400 steps instead of 64k, 2 seeds; surfaces 15x15 instead of 51x51 (span 1, as the paper), on "
          "256 training samples instead of the whole set; the Hessian ratio on a 3x3 grid with 10 Lanczos steps "
          "per point (Li et al. mapped the whole plane); shattering on 256 inputs on a line, as Balduzzi et al.",
    paper={"dataset": "cifar10", "image_size": 32, "width": 16, "depth": 56, "steps": 64000, "batch_size": 128,
           "lr": 0.1, "seeds": 3, "grid": 51, "samples": 50000, "hessian_grid": 9, "hessian_iters": 20},
))
