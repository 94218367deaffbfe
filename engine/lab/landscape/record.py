"""A run's landscape computed and stored with the run (table ``landscapes``), as a stream of events.

    for ev in run_landscape(store_path, run_id, {"dim": 2, "grid": 21}):   # the CLI: progress from the events
        ...
    shatter_specs(store_path, ["plain20", "resnet20"], {"inits": 3})        # stored with run_id NULL

The record is written as the computation goes (status, progress, phase), so any viewer can poll it; a cancel
from elsewhere (the record set to ``cancelled``) stops the computation at its next point.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from engine.arch import SpecLike, load_spec
from engine.lab.landscape.options import LandscapeOptions, parse_options
from engine.lab.landscape.shatter import ShatterOptions, parse_shatter_options, shatter
from engine.lab.landscape.source import load_run, run_batches, stored_run
from engine.lab.landscape.surface import SurfaceDone, SurfaceEvent, SurfaceProgress, compute_surface
from engine.spec import to_dict
from engine.store import RunStore
from engine.store.landscapes import LANDSCAPE_ACTIVE, LandscapeStore

log = logging.getLogger(__name__)

PROGRESS_EVERY_S = 0.5


def stopper(ls: LandscapeStore | None, job_id: int | None,
            should_stop: Callable[[], bool] | None) -> Callable[[], bool]:
    """Stop when asked locally, or when the record was cancelled from elsewhere (read at most every 0.5 s)."""
    state = {"t": 0.0, "cancelled": False}

    def stop() -> bool:
        if should_stop is not None and should_stop():
            return True
        if ls is None or job_id is None:
            return False
        now = time.monotonic()
        if now - state["t"] > PROGRESS_EVERY_S:
            state["t"] = now
            rec = ls.get(job_id)
            state["cancelled"] = rec is None or rec["status"] == "cancelled"
        return bool(state["cancelled"])

    return stop


def check_surface(store_path: str | Path | None, run_id: int, options: LandscapeOptions | dict[str, Any] | None
                  ) -> LandscapeOptions:
    """Options valid and the run has weights: a LandscapeError / SpecError before anything is written."""
    opts = parse_options(options)
    stored_run(RunStore(store_path), run_id)
    return opts


def run_landscape(store_path: str | Path | None, run_id: int, options: LandscapeOptions | dict[str, Any] | None = None,
                  *, job_id: int | None = None, save: bool = True,
                  should_stop: Callable[[], bool] | None = None) -> Iterator[SurfaceEvent]:
    """Compute a run's surface, store it with the run (unless ``save`` is False) and pass the events on. The last
    event is a `SurfaceDone` whose result carries ``job_id`` (None when not saved)."""
    opts = parse_options(options)
    rs = RunStore(store_path)
    rm = load_run(rs, run_id, opts.device, with_init=opts.direction == "init")  # bad input raises before a write
    batches = run_batches(rm, opts.samples, opts.batch_size)
    ls = LandscapeStore(rs.path) if save else None
    if ls is not None:
        if job_id is None:
            job_id = ls.create("surface", opts.to_dict(), run_id, status="running")
        elif not ls.transition(job_id, ("queued",), "running"):
            return  # cancelled before this process got to it
        ls.set_pid(job_id, os.getpid())
    stop = stopper(ls, job_id, should_stop)
    last = 0.0
    try:
        for ev in compute_surface(rm.model, rm.loss_fn, batches, opts, init_state=rm.init_state, should_stop=stop):
            if isinstance(ev, SurfaceProgress) and ls is not None and job_id is not None:
                now = time.monotonic()
                if now - last > PROGRESS_EVERY_S:
                    last = now
                    ls.set_progress(job_id, ev.fraction, ev.phase)
            if isinstance(ev, SurfaceDone):
                if ev.result is not None:
                    ev.result.update({"run_id": run_id, "run_name": rm.name, "job_id": job_id,
                                      "architecture": rm.graph.name or rm.graph.family})
                    if opts.direction == "init":
                        ev.result["init_source"] = rm.init_source
                _finish(ls, job_id, ev)
            yield ev
    except BaseException as exc:
        if ls is not None and job_id is not None:
            cancelled = isinstance(exc, KeyboardInterrupt | GeneratorExit)
            ls.transition(job_id, LANDSCAPE_ACTIVE, "cancelled" if cancelled else "failed",
                          "stopped by the user" if cancelled else (str(exc) or type(exc).__name__))
        raise


def _finish(ls: LandscapeStore | None, job_id: int | None, ev: SurfaceDone) -> None:
    if ls is None or job_id is None:
        return
    if ev.status == "done" and ev.result is not None:
        ls.set_result(job_id, ev.result)
        ls.transition(job_id, LANDSCAPE_ACTIVE, "done")
    else:
        ls.transition(job_id, LANDSCAPE_ACTIVE, "cancelled", "stopped by the user")


def spec_label(spec: SpecLike) -> str:
    parsed = load_spec(spec)
    return str(parsed.name or (spec if isinstance(spec, str) else parsed.family))


def check_shatter(specs: list[SpecLike], options: ShatterOptions | dict[str, Any] | None) -> ShatterOptions:
    from engine.arch import expand
    from engine.lab.landscape.source import LandscapeError

    opts = parse_shatter_options(options)
    if not specs:
        raise LandscapeError("shatter needs at least one spec (a preset name or a spec file)")
    for s in specs:
        if expand(s).input_kind == "tokens":
            raise LandscapeError(f"{spec_label(s)} takes token ids: there is no line through its input space; use "
                                 "a model with float inputs (images or feature vectors)")
    return opts


def shatter_specs(store_path: str | Path | None, specs: list[SpecLike],
                  options: ShatterOptions | dict[str, Any] | None = None, *, job_id: int | None = None,
                  save: bool = True, should_stop: Callable[[], bool] | None = None,
                  on_progress: Callable[[float, str], None] | None = None) -> dict[str, Any] | None:
    """The shattering measures of each spec at initialisation: ``{"nets": [{name, autocorr, ...}], ...}``.
    Returns None when cancelled."""
    opts = check_shatter(specs, options)
    ls = LandscapeStore(store_path) if save else None
    dicts = [to_dict(load_spec(s)) for s in specs]
    if ls is not None:
        if job_id is None:
            job_id = ls.create("shatter", {**opts.to_dict(), "specs": dicts}, None, status="running")
        elif not ls.transition(job_id, ("queued",), "running"):
            return None
        ls.set_pid(job_id, os.getpid())
    stop = stopper(ls, job_id, should_stop)
    nets = []
    try:
        for i, spec in enumerate(dicts):
            if stop():
                if ls is not None and job_id is not None:
                    ls.transition(job_id, LANDSCAPE_ACTIVE, "cancelled", "stopped by the user")
                return None
            phase = f"shatter {spec_label(specs[i])} ({i + 1}/{len(specs)})"
            if on_progress is not None:
                on_progress(i / len(specs), phase)
            if ls is not None and job_id is not None:
                ls.set_progress(job_id, i / len(specs), phase)
            nets.append({**shatter(spec, opts), "label": spec_label(specs[i])})
        result = {"nets": nets, "options": opts.to_dict(), "job_id": job_id}
        if ls is not None and job_id is not None:
            ls.set_result(job_id, result)
            ls.transition(job_id, LANDSCAPE_ACTIVE, "done")
        if on_progress is not None:
            on_progress(1.0, "done")
        return result
    except BaseException as exc:
        if ls is not None and job_id is not None:
            cancelled = isinstance(exc, KeyboardInterrupt)
            ls.transition(job_id, LANDSCAPE_ACTIVE, "cancelled" if cancelled else "failed",
                          "stopped by the user" if cancelled else (str(exc) or type(exc).__name__))
        raise
