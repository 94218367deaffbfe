"""A lesson's runs in the store: start the pair through the job runner (ordinary runs, named
``<lesson> · <variant>``), find the newest pair trained at given settings (a refreshed page re-attaches), cancel."""

from __future__ import annotations

from typing import Any

from engine.lab.experiments.reuse import canonical, stored_key
from engine.lab.lessons.base import Lesson, LessonSettings
from engine.store import RunStore
from engine.train.events import FINAL_STATUSES


def start(lesson: Lesson, settings: LessonSettings, runner: Any) -> dict[str, int]:
    """Queue both runs on ``runner`` (an engine.train.runner.JobRunner); {label: run id}. Bad settings or a spec
    that does not fit raise before anything is queued (each run is validated as it is created)."""
    plan = lesson.plan(settings)
    for run in plan:  # validate both first: never leave half a pair queued
        canonical(run.spec, run.config)
    return {run.label: runner.submit(run.spec, run.config, name=run.name) for run in plan}


def find(lesson: Lesson, settings: LessonSettings, store: RunStore) -> dict[str, int] | None:
    """The newest runs of this lesson at these settings ({label: run id}), both present; None if there are none.
    A run is the lesson's when its name and its stored (spec, config) match the plan's."""
    wanted = {run.name: (run.label, canonical(run.spec, run.config)) for run in lesson.plan(settings)}
    found: dict[str, int] = {}
    for row in store.list_runs():  # newest first
        hit = wanted.get(str(row.get("name") or ""))
        if hit is None or hit[0] in found:
            continue
        if stored_key(row) == hit[1]:
            found[hit[0]] = int(row["id"])
        if len(found) == len(wanted):
            return found
    return None


def last_settings(lesson: Lesson, store: RunStore) -> dict[str, int] | None:
    """The steps and seed of this lesson's newest run ({"steps": 6, "seed": 0}), so a page opened again (a link, a
    new session) shows the pair a student last ran rather than an empty form at the defaults; None if never run."""
    name = f"{lesson.name} · {lesson.labels[0]}"
    for row in store.list_runs():  # newest first
        config = row.get("config") if row.get("name") == name else None
        if isinstance(config, dict) and isinstance(config.get("steps"), int) and isinstance(config.get("seed"), int):
            return {"steps": config["steps"], "seed": config["seed"]}
    return None


def active(store: RunStore, run_ids: dict[str, int]) -> bool:
    rows = [store.get_run(i) for i in run_ids.values()]
    return any(r is not None and r["status"] not in FINAL_STATUSES for r in rows)


def cancel(runner: Any, run_ids: dict[str, int]) -> dict[str, str]:
    return {label: runner.cancel(run_id) for label, run_id in run_ids.items()}
