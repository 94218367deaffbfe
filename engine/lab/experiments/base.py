"""What an experiment is: options, a declarative recipe of runs, and an analysis of the stored runs.

    exp = get_experiment("degradation")
    opts = exp.parse_options({"seeds": 2, "steps": 300})
    plans = exp.plan(opts)        # [RunPlan(label="plain56", seed=0, spec={...}, config={...}), ...]
    results = exp.analyse(ctx)    # {"conclusion": "...", "numbers": {...}, "claims": [...], "figures": {...}}

A recipe is a list of runs = specs x seeds under one shared training config: every run of seed s uses
config seed s, so runs with the same seed see the same batches in the same order and start from the same
init seed (engine.train.trainer seeds both from it), and the data set itself is the same for all (its own
seed is a dataset option, fixed). Results are plain JSON: computed from the runs, never canned text.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from engine.core.errors import SpecError
from engine.core.registry import Registry
from engine.core.text import short
from engine.lab.experiments.claims import Claim


class ExperimentOptions(BaseModel):
    """Options every experiment has. Subclasses add their own toggles and defaults."""

    model_config = ConfigDict(extra="forbid")

    seeds: int = Field(1, ge=1, le=10, description="runs per architecture, seeds 0..K-1 (mean +- band over seeds)")
    steps: int = Field(300, gt=0, description="optimizer steps per run")
    batch_size: int = Field(64, gt=0)
    train_size: int | None = Field(None, gt=0, description="training samples (default: the dataset's)")
    val_size: int | None = Field(None, gt=0, description="validation samples (default: the dataset's)")
    device: Literal["auto", "cpu", "cuda", "mps"] = "auto"


@dataclass(frozen=True)
class RunPlan:
    label: str  # the architecture / variant; curves are averaged over seeds per label
    seed: int
    spec: dict[str, Any]
    config: dict[str, Any]

    @property
    def run_name(self) -> str:
        return f"{self.label} s{self.seed}"


@dataclass
class StoredRun:
    """A planned run as the analysis sees it: the plan, its store id and its stored row (spec, config, summary)."""

    plan: RunPlan
    run_id: int
    row: dict[str, Any]

    @property
    def ok(self) -> bool:
        return self.row.get("status") == "done"

    @property
    def summary(self) -> dict[str, Any]:
        return self.row.get("summary") or {}


@dataclass
class AnalysisContext:
    store: Any  # engine.store.RunStore
    options: ExperimentOptions
    runs: list[StoredRun]
    report: Callable[[str], None] = field(default=lambda _msg: None)  # progress text for long analyses

    def by_label(self) -> dict[str, list[StoredRun]]:
        out: dict[str, list[StoredRun]] = {}
        for r in self.runs:
            out.setdefault(r.plan.label, []).append(r)
        return out


Plan = Callable[[Any], list[RunPlan]]
Analyse = Callable[[AnalysisContext], dict[str, Any]]


@dataclass(frozen=True)
class Experiment:
    name: str
    title: str
    claim: str  # what the literature says, with the source
    options: type[ExperimentOptions]
    plan: Plan
    analyse: Analyse
    tiny: dict[str, Any] = field(default_factory=dict)  # options for tests: seconds, not minutes
    claims: tuple[Claim, ...] = ()  # registered before any run (engine.lab.experiments.claims)
    setup: str = ""  # the default setup, and how it differs from the paper's
    paper: dict[str, Any] = field(default_factory=dict)  # options reproducing the publication's settings (--paper)

    def parse_options(self, data: dict[str, Any] | None = None) -> ExperimentOptions:
        """Options from a dict; unknown keys and bad values are a SpecError naming ``options.<key>``."""
        try:
            return self.options.model_validate(dict(data or {}))
        except ValidationError as exc:
            first = exc.errors(include_url=False)[0]
            key = ".".join(str(p) for p in first["loc"])
            if first["type"] == "extra_forbidden":
                raise SpecError(f"options.{key}", f"experiment {self.name!r} has no option {key!r}; valid options: "
                                + ", ".join(self.options.model_fields)) from None
            msg = first["msg"].removeprefix("Value error, ")  # our validators already say what they got
            got = "" if first["type"].startswith("value_error") else f", got {first.get('input')!r}"
            raise SpecError(f"options.{key}", f"{msg}{got}") from None


EXPERIMENTS: Registry[Experiment] = Registry("experiment")


def register_experiment(exp: Experiment) -> Experiment:
    return EXPERIMENTS.register(exp.name, exp, where=exp.__class__.__module__)


def experiment_names() -> list[str]:
    return EXPERIMENTS.names()


def get_experiment(name: str) -> Experiment:
    if name not in EXPERIMENTS:
        raise SpecError("experiment", f"unknown experiment {short(name)}; valid experiments: "
                        f"{', '.join(EXPERIMENTS.names())}")
    return EXPERIMENTS.get(name)


def train_config(opts: ExperimentOptions, seed: int, dataset: str, **extra: Any) -> dict[str, Any]:
    """The shared training config of a recipe: only the seed differs between runs of one architecture."""
    data_opts = dict(extra.pop("dataset_options", {}))
    if opts.train_size is not None:
        data_opts["train_size"] = opts.train_size
    if opts.val_size is not None:
        data_opts["val_size"] = opts.val_size
    cfg: dict[str, Any] = {"dataset": dataset, "dataset_options": data_opts, "steps": opts.steps,
                           "batch_size": opts.batch_size, "seed": seed, "device": opts.device,
                           "val_every": max(1, opts.steps // 4), "log_every": max(1, min(10, opts.steps // 20)),
                           "act_every": 0}
    cfg.update(extra)
    return cfg
