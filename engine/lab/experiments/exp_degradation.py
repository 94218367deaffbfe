"""Degradation (He et al. 2016, "Deep Residual Learning", sec. 4.2, fig. 1 and fig. 6): plain nets of 20 and 56
layers both train, yet the deeper one ends at a *higher training error* (so it is optimisation, not overfitting);
with identity shortcuts the gap goes away and the deeper net trains to a lower error.

Runs: plain{shallow}, plain{deep}, resnet{shallow}, resnet{deep}, each over the seeds, one shared config (the runs
of a seed share the init seed and the batch order). Every statistic is a per-seed difference of end training
errors (mean batch error over the last tenth of the run, as the paper's curves are batch errors), judged with the
t-margin over seeds (engine.lab.experiments.claims).
"""

from __future__ import annotations

from typing import Any

from pydantic import Field, field_validator

from engine.lab.experiments.base import AnalysisContext, Experiment, RunPlan, register_experiment
from engine.lab.experiments.claims import Claim, judge_all
from engine.lab.experiments.common import ImageOptions, check_depth, cifar_net, curve_bands, error, image_config
from engine.lab.experiments.report import conclusion
from engine.lab.experiments.stats import pm, seed_stats, series, tail_mean

# He et al. 2016, sec. 4.2: the 110-layer net is warmed up "until the training error is below 80%": the paper's
# own mark of a net that has started to train (chance on 10 classes is 90%).
TRAINED = 0.80

_SRC = "He et al. 2016 (CVPR), sec. 4.2"
_MEASURED = ("CIFAR-10 training error (dashed curves) of plain-20/32/44/56 and ResNet-20/32/44/56/110, width 16, "
             "64k iterations of SGD, batch 128")
_DIRECTION = "the paper claims a direction, not a size: any difference the seeds' margin clears"


def registered_claims(s: int, d: int) -> tuple[Claim, ...]:
    """The claims for depths ``s`` < ``d`` (the depths are options; the claims' logic does not depend on them)."""
    def trains(net: str) -> Claim:
        return Claim(f"{net}_trains", f"{net} trains (leaves chance)", _SRC + " (the 110-layer warm-up rule)",
                     "the training error below which the paper treats a net as training", f"end training error of "
                     f"{net}", "below", TRAINED, "the paper's own mark: 'until the training error is below 80%' "
                     "(chance: 90%)", unit="points", check=True)

    return (
        trains(f"plain{s}"), trains(f"plain{d}"), trains(f"resnet{s}"), trains(f"resnet{d}"),
        Claim("plain_degrades", f"plain{d} ends at a higher training error than plain{s} (degradation)",
              _SRC + ", fig. 6 left (and fig. 1)", _MEASURED,
              f"end training error, plain{d} minus plain{s}", "above", 0.0, _DIRECTION, unit="points",
              requires=(f"plain{s}_trains", f"plain{d}_trains")),
        Claim("resnet_deeper_better", f"resnet{d} ends at a lower training error than resnet{s}",
              _SRC + ", fig. 6 middle", _MEASURED, f"end training error, resnet{d} minus resnet{s}", "below", 0.0,
              _DIRECTION, unit="points", requires=(f"resnet{s}_trains", f"resnet{d}_trains")),
        Claim("shortcuts_close_gap", "identity shortcuts close the gap: the plain pair's depth gap exceeds the "
              "residual pair's", _SRC + ", fig. 6 left vs middle ('the degradation problem is well addressed')",
              _MEASURED, f"(plain{d} - plain{s}) minus (resnet{d} - resnet{s}), end training errors", "above", 0.0,
              _DIRECTION, unit="points", requires=(f"plain{s}_trains", f"plain{d}_trains")),
        Claim("resnet_beats_plain_deep", f"at depth {d} the residual net ends at a lower training error than its "
              "plain twin", _SRC + ", fig. 6 left vs middle", _MEASURED,
              f"end training error, plain{d} minus resnet{d}", "above", 0.0, _DIRECTION, unit="points",
              requires=(f"resnet{d}_trains",)),
    )


class DegradationOptions(ImageOptions):
    seeds: int = Field(3, ge=1, le=10, description="runs per net (paired by seed)")
    steps: int = Field(600, gt=0)
    image_size: int = Field(12, ge=8, le=64, description="built-in data only: image side (CIFAR is 32)")
    width: int = Field(4, ge=2, le=64, description="first-stage width; stages are w, 2w, 4w (He et al.: 16)")
    shallow: int = Field(20, description="depth of the shallow pair (6n + 2)")
    deep: int = Field(32, description="depth of the deep pair (6n + 2; He et al. fig. 6: 32, 44, 56; fig. 1: 56)")

    @field_validator("shallow", "deep")
    @classmethod
    def _depth(cls, v: int) -> int:
        return check_depth(v)


def plan(opts: DegradationOptions) -> list[RunPlan]:
    plans = []
    for seed in range(opts.seeds):
        cfg = image_config(opts, seed)
        for shortcut in ("none", "A"):
            for depth in (opts.shallow, opts.deep):
                spec = cifar_net(depth, shortcut, opts)
                plans.append(RunPlan(spec["name"], seed, spec, cfg))
    return plans


def _end(ctx: AnalysisContext, runs: list, key: str, transform: Any = None) -> dict[int, float]:
    """{seed: mean of the last tenth of the logged values}."""
    out = {}
    for r in runs:
        s = series(r, ctx.store, key)
        if s is not None:
            out[r.plan.seed] = tail_mean(transform(s[1]) if transform else s[1])
    return out


def claim_values(errors: dict[str, dict[int, float]], s: int, d: int) -> dict[str, list[float | None]]:
    """Per-seed values of each claim's statistic from {net label: {seed: end training error}}."""
    ps, pd, rs, rd = (errors.get(k, {}) for k in (f"plain{s}", f"plain{d}", f"resnet{s}", f"resnet{d}"))
    seeds = sorted(set(ps) | set(pd) | set(rs) | set(rd))

    def diff(a: dict[int, float], b: dict[int, float]) -> list[float | None]:
        return [a[k] - b[k] if k in a and k in b else None for k in seeds]

    values: dict[str, list[float | None]] = {f"{net}_trains": list(e.values()) for net, e in
                                             ((f"plain{s}", ps), (f"plain{d}", pd), (f"resnet{s}", rs),
                                              (f"resnet{d}", rd)) if e}
    if ps and pd:
        values["plain_degrades"] = diff(pd, ps)
    if rs and rd:
        values["resnet_deeper_better"] = diff(rd, rs)
    if ps and pd and rs and rd:
        values["shortcuts_close_gap"] = [None if a is None or b is None else a - b
                                         for a, b in zip(diff(pd, ps), diff(rd, rs), strict=True)]
    if pd and rd:
        values["resnet_beats_plain_deep"] = diff(pd, rd)
    return values


def analyse(ctx: AnalysisContext) -> dict[str, Any]:
    opts: DegradationOptions = ctx.options  # type: ignore[assignment]
    figures: dict[str, Any] = {"loss": {}, "train_error": {}, "val_error": {}}
    numbers: dict[str, Any] = {}
    errors: dict[str, dict[int, float]] = {}
    for label, runs in ctx.by_label().items():
        figures["loss"][label] = curve_bands(ctx.store, runs, "loss")
        figures["train_error"][label] = curve_bands(ctx.store, runs, "acc", error)
        figures["val_error"][label] = curve_bands(ctx.store, runs, "val_acc", error)
        errors[label] = _end(ctx, runs, "acc", error)
        loss_m, loss_s = seed_stats(list(_end(ctx, runs, "loss").values()))
        err_m, err_s = seed_stats(list(errors[label].values()))
        val_m, val_s = seed_stats([1 - r.summary["val_acc"] for r in runs if "val_acc" in r.summary])
        numbers[label] = {"final_loss": loss_m, "final_loss_std": loss_s, "train_error": err_m,
                          "train_error_std": err_s, "val_error": val_m, "val_error_std": val_s,
                          "train_error_by_seed": {str(k): v for k, v in errors[label].items()},
                          "statuses": [r.row.get("status") for r in runs]}
    claims = judge_all(registered_claims(opts.shallow, opts.deep), claim_values(errors, opts.shallow, opts.deep))
    return {"numbers": numbers, "figures": figures, "claims": claims,
            "conclusion": _conclusion(numbers, claims, opts, ctx)}


def _pct(v: float) -> str:
    return f"{100 * v:.1f}%" if v == v else "n/a"


def _conclusion(numbers: dict[str, Any], claims: list[dict[str, Any]], opts: DegradationOptions,
                ctx: AnalysisContext) -> str:
    order = [f"plain{opts.shallow}", f"plain{opts.deep}", f"resnet{opts.shallow}", f"resnet{opts.deep}"]
    ends = ", ".join(f"{k} {pm(100 * numbers[k]['train_error'], 100 * numbers[k]['train_error_std'], 1)}%"
                     for k in order if k in numbers)
    head = (f"After {opts.steps} steps on {opts.dataset} ({opts.image_size}px, width {opts.width}, {opts.seeds} "
            f"seed(s)), end training error: {ends} (mean ± std over seeds; chance is 90%).")
    untrained = [k for k in order if k in numbers and not numbers[k]["train_error"] < TRAINED]
    if untrained:
        head += (f" {', '.join(untrained)} did not train (training error at or above {100 * TRAINED:.0f}%, He et "
                 "al.'s mark): a net that never left chance says nothing about degradation, which is about nets "
                 "that train, to different errors.")
    fitted = [k for k in order[2:] if k in numbers and numbers[k]["train_error"] < 0.01]
    if len(fitted) == 2:
        head += (" Both residual nets fit the training set (under 1% error), so at this budget their depth cannot "
                 "show in the training error; He et al. see the deeper one lower after 64k steps.")
    setup = EXPERIMENT.setup if opts.dataset != "cifar10" else "CIFAR-10 from a local copy, the paper's data."
    return conclusion(head, claims, setup, ctx)


EXPERIMENT = register_experiment(Experiment(
    name="degradation",
    title="Degradation: deeper plain nets train to a higher error",
    claim="He et al. 2016 (sec. 4.2, fig. 1 and 6): plain-56 trains to a higher training error than plain-20; with "
          "identity shortcuts the gap closes and ResNet-56 trains to a lower error than ResNet-20.",
    options=DegradationOptions,
    plan=plan,
    analyse=analyse,
    tiny={"seeds": 2, "steps": 4, "shallow": 8, "deep": 14, "width": 2, "image_size": 8, "train_size": 64,
          "val_size": 32, "batch_size": 16},
    claims=registered_claims(20, 32),
    setup="the paper's nets (3 stages of basic blocks, option-A shortcuts, BN) and recipe (SGD momentum 0.9, "
          "weight decay 1e-4, lr / 10 at 50% and 75% of the steps, no warm-up), scaled for a CPU: depths 20 and 32 "
          "(fig. 6 has 20, 32, 44, 56; in 600 steps plain-44 and plain-56 stay near chance, 75-81% training error, "
          "so they do not train and cannot show degradation: --set deep=56 to see it), width 4 instead of 16, "
          "12x12 generated 'textures' instead of 32x32 CIFAR-10 (built in, nothing downloaded; like CIFAR it is "
          "learned gradually from the first steps, where on 'shapes' every net first sits at chance), 600 steps of "
          "batch 64 at lr 0.05 (the paper's 0.1 at batch 128, scaled with the batch) instead of 64k steps of batch "
          "128, no augmentation (orientation is a class cue), 3 seeds. --paper runs the paper's 20 vs 56 on a local "
          "CIFAR-10.",
    paper={"dataset": "cifar10", "image_size": 32, "width": 16, "deep": 56, "steps": 64000, "batch_size": 128,
           "lr": 0.1, "seeds": 3},
))
