"""Run a sweep: validate every entry, record the sweep, queue its runs in the job runner (each trains in its
own child process, at most ``max_concurrent`` at a time) and report progress until all have finished.

Progress is read from the store, not from the workers, so it is the same whether this process started
the runs or only watches them; cancelling cancels the runs still queued or running.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from engine.core.errors import SpecError
from engine.lab.sweeps.definition import Entry, SweepDef
from engine.store import RunStore
from engine.store.sweeps import attach_run, create_sweep, get_sweep
from engine.train.events import FINAL_STATUSES
from engine.train.record import create_run

log = logging.getLogger(__name__)


@dataclass
class RunProgress:
    run_id: int
    index: int
    variant: str
    seed: int
    status: str
    step: int
    steps: int
    loss: float = math.nan

    @property
    def final(self) -> bool:
        return self.status in FINAL_STATUSES


@dataclass
class SweepProgress:
    sweep_id: int
    name: str
    runs: list[RunProgress] = field(default_factory=list)

    @property
    def finished(self) -> bool:
        return all(r.final for r in self.runs)

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for r in self.runs:
            out[r.status] = out.get(r.status, 0) + 1
        return out

    @property
    def fraction(self) -> float:
        """Share of all the sweep's steps done (a finished run counts whole, however it ended)."""
        total = sum(r.steps for r in self.runs)
        done = sum(r.steps if r.final else min(r.step, r.steps) for r in self.runs)
        return done / total if total else 1.0

    def line(self) -> str:
        c = self.counts()
        ended = sum(v for k, v in c.items() if k in FINAL_STATUSES)
        detail = ", ".join(f"{v} {k}" for k, v in sorted(c.items()))
        return f"sweep {self.sweep_id} {self.name}: {ended}/{len(self.runs)} runs finished ({detail}), " \
               f"{self.fraction * 100:.0f}% of steps"

    def run_lines(self) -> list[str]:
        lines = []
        for r in self.runs:
            loss = f" loss {r.loss:.4g}" if math.isfinite(r.loss) else ""
            lines.append(f"  [{r.index}] run {r.run_id} {r.variant} seed {r.seed}: {r.status} "
                         f"step {r.step}/{r.steps}{loss}")
        return lines


def check_data(entries: list[Entry]) -> None:
    """Each entry's model fits its dataset (loaded once per distinct dataset and options)."""
    from engine.arch import expand
    from engine.ir.graph import infer_shapes
    from engine.train.config import parse_config
    from engine.train.tasks import task_for
    from engine.train.trainer import load_data

    loaded: dict[str, Any] = {}
    for e in entries:
        cfg = parse_config(e.config)
        key = f"{cfg.dataset}:{sorted(cfg.dataset_options.items())}"
        if key not in loaded:
            loaded[key] = load_data(cfg).info
        graph = expand(e.spec)
        task_for(graph, loaded[key], infer_shapes(graph)[graph.output])


def submit_sweep(sweep: SweepDef, entries: list[Entry], store: RunStore) -> tuple[int, list[int]]:
    """Record the sweep and queue one run per entry (validated first: nothing is written on bad input)."""
    check_data(entries)
    name = sweep.name or "sweep"
    sweep_id = create_sweep(store, name, sweep.model_dump(mode="json"), [e.to_dict() for e in entries])
    run_ids = []
    for e in entries:
        run_id = create_run(store, e.spec, e.config, status="queued", name=e.run_name(name))
        attach_run(store, sweep_id, e.index, run_id)
        run_ids.append(run_id)
    log.info("sweep %d (%s): %d runs queued", sweep_id, name, len(run_ids))
    return sweep_id, run_ids


class Tracker:
    """Reads a sweep's progress from the store; remembers each run's last loss between polls."""

    def __init__(self, store: RunStore, sweep_id: int) -> None:
        self.store, self.sweep_id = store, sweep_id
        self._loss: dict[int, tuple[int, float]] = {}

    def poll(self) -> SweepProgress:
        sweep = get_sweep(self.store, self.sweep_id)
        if sweep is None:
            raise SpecError("sweep", f"no sweep {self.sweep_id} in {self.store.path}")
        prog = SweepProgress(self.sweep_id, sweep["name"])
        for m in sweep["runs"]:
            run = self.store.get_run(m["run_id"])
            if run is None:
                continue
            seen, loss = self._loss.get(m["run_id"], (-1, math.nan))
            new = self.store.get_metrics(m["run_id"], ["loss"], since_step=seen)["loss"]
            if len(new[0]):
                seen, loss = int(new[0][-1]), float(new[1][-1])
                self._loss[m["run_id"]] = (seen, loss)
            step = self.store.latest_step(m["run_id"]) or 0
            steps = int((run["config"] or {}).get("steps", 0))
            prog.runs.append(RunProgress(m["run_id"], m["index"], m["variant"], m["seed"], run["status"],
                                         step, steps, loss))
        return prog


def run_sweep(sweep: SweepDef, entries: list[Entry], store_path: str | Path | None = None, *,
              max_concurrent: int | None = None, poll_s: float = 0.5,
              on_progress: Callable[[SweepProgress], None] | None = None,
              should_stop: Callable[[], bool] | None = None) -> SweepProgress:
    """Queue the sweep and wait for it, calling ``on_progress`` after every poll. Ctrl-C (or
    ``should_stop``) cancels the runs not yet finished and re-raises / returns."""
    from engine.train.runner import JobRunner

    runner = JobRunner(store_path, max_concurrent=max_concurrent or sweep.max_concurrent, poll_s=poll_s)
    sweep_id, run_ids = submit_sweep(sweep, entries, runner.store)
    tracker = Tracker(runner.store, sweep_id)
    try:
        while True:
            runner.pump()
            prog = tracker.poll()
            if on_progress is not None:
                on_progress(prog)
            if prog.finished:
                return prog
            if should_stop is not None and should_stop():
                _cancel_all(runner, run_ids)
                return tracker.poll()
            time.sleep(poll_s)
    except BaseException:
        _cancel_all(runner, run_ids)
        raise


def _cancel_all(runner: Any, run_ids: list[int]) -> None:
    for run_id in run_ids:
        run = runner.store.get_run(run_id)
        if run is not None and run["status"] not in FINAL_STATUSES:
            try:
                runner.cancel(run_id)
            except Exception:  # noqa: BLE001 - cancel the rest even if one fails
                log.exception("could not cancel run %d", run_id)
