"""Runs of a recipe that start from an earlier run of the same recipe (fine-tuning from its pretraining run).

A planned run's config says ``init_from: plan:<label> s<seed>`` (`from_plan`); the driver trains it only once that
run is done, and hands the trainer ``init_from: run:<id>`` (engine.train.transfer resolves it to the run's final
weights). A run whose source failed or diverged is not trained: it is reported as blocked.
"""

from __future__ import annotations

from typing import Any, Literal

from engine.core.errors import SpecError
from engine.train.events import FINAL_STATUSES
from engine.train.transfer import PLAN_REF

State = Literal["ready", "wait", "blocked"]


def from_plan(label: str, seed: int) -> str:
    """The ``init_from`` value naming an earlier run of the plan."""
    return f"{PLAN_REF}{label} s{seed}"


def _source(config: dict[str, Any]) -> str | None:
    src = config.get("init_from")
    return src[len(PLAN_REF):] if isinstance(src, str) and src.startswith(PLAN_REF) else None


def check_refs(runs: list[Any]) -> None:
    """Every ``plan:`` reference names a run planned before it (``runs``: RunPlans in order)."""
    seen: set[str] = set()
    for r in runs:
        name = _source(r.config)
        if name is not None and name not in seen:
            raise SpecError("config.init_from", f"{r.run_name} starts from {name!r}, which is not a run planned "
                            "before it")
        seen.add(r.run_name)


def resolve(config: dict[str, Any], runs: list[dict[str, Any]], store: Any) -> tuple[State, dict[str, Any]]:
    """(state, the config to train): ``ready`` with ``plan:`` replaced by ``run:<id>``, ``wait`` while the source run
    has not finished, ``blocked`` when it ended without weights to start from."""
    name = _source(config)
    if name is None:
        return "ready", config
    dep = next(r for r in runs if f"{r['label']} s{r['seed']}" == name)
    row = store.get_run(dep["run_id"]) if dep.get("run_id") else None
    if row is None or row["status"] not in FINAL_STATUSES:
        return "wait", config
    if row["status"] != "done":
        return "blocked", config
    return "ready", {**config, "init_from": f"run:{row['id']}"}
