"""Running an experiment: create its record, train its runs, analyse them, store the results.

    exp_id = create_experiment("degradation", {"seeds": 2}, store_path)
    results = execute(exp_id, store_path)            # in this process, runs one after another (the CLI)
    results = execute(exp_id, store_path, jobs=2)    # through the job runner, 2 child processes at a time
    launch(exp_id, store_path, jobs=1)               # all of it in a detached process (the dashboard)

Every run is an ordinary run of the store (named ``<experiment> #<id>: <label> s<seed>``), so it shows up
on the Runs and Compare pages. Progress lives in the experiment record, so any viewer can poll it; an
experiment whose driver process died is marked ``interrupted`` by `ExperimentStore.reap_dead`. Runs that
fail or diverge do not stop the experiment: the analysis reports them (a diverged run is a result too).
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing as mp
import os
import signal
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from engine.arch import load_spec
from engine.core.errors import SpecError
from engine.lab.experiments import depends
from engine.lab.experiments.base import AnalysisContext, RunPlan, StoredRun, get_experiment
from engine.lab.experiments.cost import eta_seconds, run_costs
from engine.lab.experiments.reuse import canonical, reusable_runs, stamp
from engine.store import RunStore, pid_alive
from engine.store.experiments import EXP_ACTIVE, ExperimentStore
from engine.train.config import parse_config
from engine.train.events import FINAL_STATUSES, Event, Metrics
from engine.train.record import create_run, run_and_record

log = logging.getLogger(__name__)

# (run index, event) for in-process runs; (None, None) when only the stored progress changed.
EventHook = Callable[[int | None, Event | None], None]


def create_experiment(name: str, options: dict[str, Any] | None = None, store_path: str | Path | None = None) -> int:
    """Validate the options and every planned run (SpecError before anything is written); store the record."""
    exp = get_experiment(name)
    opts = exp.parse_options(options)
    plans = exp.plan(opts)
    for p in plans:
        parse_config(p.config)
        load_spec(p.spec)
    depends.check_refs(plans)
    runs = [{"label": p.label, "seed": p.seed, "spec": p.spec, "config": p.config, "run_id": None} for p in plans]
    return ExperimentStore(store_path).create(name, opts.model_dump(mode="json"), runs)


def _plan(r: dict[str, Any]) -> RunPlan:
    return RunPlan(r["label"], int(r["seed"]), r["spec"], r["config"])


def _run_name(name: str, exp_id: int, r: dict[str, Any]) -> str:
    return f"{name} #{exp_id}: {r['label']} s{r['seed']}"


def progress(exp_id: int, store_path: str | Path | None = None) -> dict[str, Any]:
    """Where an experiment stands, from the store: status, runs done / total, the active runs' steps, the
    fraction of the whole experiment's training work done (each run's steps weighted by its cost per step, so a
    56-layer run counts about three times a 20-layer one) and an ETA from the rate of the work trained so far
    (reused runs count as done at once and do not speed the estimate up)."""
    es, rs = ExperimentStore(store_path), RunStore(store_path)
    rec = es.get(exp_id)
    if rec is None:
        raise SpecError("experiment", f"no experiment {exp_id} in {es.path}")
    costs = run_costs(rec["runs"])
    total = sum(costs) or 1.0
    done_work = reused_work = 0.0
    done_runs = reused = 0
    current = []
    for r, cost in zip(rec["runs"], costs, strict=True):
        steps = int(r["config"].get("steps", 1))
        row = rs.get_run(r["run_id"]) if r.get("run_id") else None
        if row is None:
            continue
        if row["status"] in FINAL_STATUSES:
            done_runs += 1
            done_work += cost
            if r.get("reused"):
                reused += 1
                reused_work += cost
            continue
        step = rs.latest_step(r["run_id"]) or 0
        done_work += cost * min(step, steps) / max(steps, 1)
        current.append({"label": r["label"], "seed": r["seed"], "run_id": r["run_id"], "step": step, "steps": steps,
                        "status": row["status"]})
    extra = rec.get("progress") or {}
    elapsed = time.time() - rec["started_at"] if rec.get("started_at") else 0.0
    if rec["status"] not in EXP_ACTIVE and rec.get("finished_at") and rec.get("started_at"):
        elapsed = rec["finished_at"] - rec["started_at"]
    fraction = done_work / total
    return {"id": exp_id, "name": rec["name"], "status": rec["status"], "runs_total": len(rec["runs"]),
            "runs_done": done_runs, "runs_reused": reused, "fraction": fraction, "current": current,
            "elapsed_s": elapsed,
            "eta_s": eta_seconds(elapsed, done_work - reused_work, total - done_work) if rec["status"] == "running"
            else None,
            "phase": extra.get("phase", rec["status"]) if rec["status"] in EXP_ACTIVE else rec["status"],
            "error": rec.get("error")}


def execute(exp_id: int, store_path: str | Path | None = None, *, jobs: int = 0,
            on_event: EventHook | None = None, should_stop: Callable[[], bool] | None = None,
            reuse: bool = True) -> dict[str, Any] | None:
    """Train the experiment's runs (not yet trained ones only, so an interrupted experiment resumes), then
    analyse them. ``jobs`` > 0: through the job runner with that many child processes; 0: in this process.
    ``reuse``: a planned run already done in the store with the same spec, config (seed included) and code
    version is not trained again (engine.lab.experiments.reuse). Returns the results, or None if it was cancelled."""
    es, rs = ExperimentStore(store_path), RunStore(store_path)
    rec = es.get(exp_id)
    if rec is None:
        raise SpecError("experiment", f"no experiment {exp_id} in {es.path}; list them with "
                        "`python -m engine experiment --list`")
    if not es.transition(exp_id, ("queued", "running", "interrupted", "failed"), "running"):
        return None  # cancelled before this process got to it
    es.set_pid(exp_id, os.getpid())
    es.set_status(exp_id, "running")
    stop = _stopper(es, exp_id, should_stop)
    try:
        if reuse:
            _reuse_trained(es, rs, rec)
        if jobs > 0:
            _train_with_runner(es, rs, rec, jobs, stop, on_event)
        else:
            _train_inline(es, rs, rec, stop, on_event)
        if stop():
            es.transition(exp_id, EXP_ACTIVE, "cancelled", "stopped by the user")
            return None
        unusable = _nothing_to_analyse(es, rs, exp_id)
        if unusable is not None:
            es.transition(exp_id, EXP_ACTIVE, *unusable)
            return None
        es.set_status(exp_id, "analysing")
        results = analyse(exp_id, store_path, on_event=on_event)
        es.set_status(exp_id, "done")
        return results
    except KeyboardInterrupt:
        es.transition(exp_id, EXP_ACTIVE, "cancelled", "stopped by the user")
        raise
    except BaseException as exc:
        es.transition(exp_id, EXP_ACTIVE, "failed", str(exc) or exc.__class__.__name__)
        raise


def _reuse_trained(es: ExperimentStore, rs: RunStore, rec: dict[str, Any]) -> None:
    """Point every planned run that was trained before (same spec, config and code version) at that run."""
    trained = reusable_runs(rs)
    if not trained:
        return
    runs = rec["runs"]
    changed = False
    for r in runs:
        if r.get("run_id"):
            continue
        found = trained.get(canonical(r["spec"], r["config"]))
        if found is not None:
            r["run_id"], r["reused"] = found, True
            changed = True
    if changed:
        es.set_runs(rec["id"], runs)


def _nothing_to_analyse(es: ExperimentStore, rs: RunStore, exp_id: int) -> tuple[str, str] | None:
    """(status, reason) when no run of the experiment finished (done or diverged): an experiment whose runs
    were all cancelled one by one is `cancelled`, not `done` with conclusions drawn from nothing."""
    rec = es.get(exp_id) or {"runs": []}
    rows = [rs.get_run(r["run_id"]) if r.get("run_id") else None for r in rec["runs"]]
    statuses = [row["status"] if row else "deleted" for row in rows]
    if not statuses or any(s in ("done", "diverged") for s in statuses):
        return None
    counts = ", ".join(f"{statuses.count(s)} {s}" for s in dict.fromkeys(statuses))
    if all(s == "cancelled" for s in statuses):
        return "cancelled", f"every run was cancelled ({counts}); nothing to analyse: run the experiment again"
    return "failed", f"no run finished ({counts}); see the runs' errors on the Runs page, then run it again"


def _stopper(es: ExperimentStore, exp_id: int, should_stop: Callable[[], bool] | None) -> Callable[[], bool]:
    """Stop when asked locally or when the record was cancelled from elsewhere (checked at most every 0.5 s)."""
    state = {"t": 0.0, "cancelled": False}

    def stop() -> bool:
        if should_stop is not None and should_stop():
            return True
        now = time.monotonic()
        if now - state["t"] > 0.5:
            state["t"] = now
            rec = es.get(exp_id)
            state["cancelled"] = rec is None or rec["status"] == "cancelled"
        return bool(state["cancelled"])

    return stop


def _train_inline(es: ExperimentStore, rs: RunStore, rec: dict[str, Any], stop: Callable[[], bool],
                  on_event: EventHook | None) -> None:
    from engine.data import load_dataset

    runs = rec["runs"]
    data_cache: dict[str, Any] = {}
    for i, r in enumerate(runs):
        if stop():
            return
        if r.get("run_id") and (row := rs.get_run(r["run_id"])) and row["status"] in FINAL_STATUSES:
            continue  # trained before an interruption
        state, config = depends.resolve(r["config"], runs, rs)  # runs in plan order: a source ran before
        if state != "ready":
            log.warning("not training %s s%s: the run it starts from did not finish", r["label"], r["seed"])
            continue
        cfg = parse_config(config)
        key = f"{cfg.dataset}:{sorted(cfg.dataset_options.items())}"
        if key not in data_cache:  # same data for every run: generate it once
            data_cache = {key: load_dataset(cfg.dataset, **cfg.dataset_options)}
        run_id = create_run(rs, r["spec"], cfg, status="running", name=_run_name(rec["name"], rec["id"], r))
        r["run_id"] = run_id
        es.set_runs(rec["id"], runs)
        last = 0.0
        try:
            for ev in run_and_record(rs, run_id, should_stop=stop, dataset=data_cache[key]):
                if on_event is not None:
                    on_event(i, ev)
                now = time.monotonic()
                if isinstance(ev, Metrics) and now - last > 1.0:
                    last = now
                    es.set_progress(rec["id"], {"phase": f"training {r['label']} s{r['seed']}"})
        except Exception:  # noqa: BLE001 - recorded as failed by run_and_record; the experiment goes on
            log.exception("run %d (%s) failed", run_id, r["label"])
        stamp(rs, run_id)


def _train_with_runner(es: ExperimentStore, rs: RunStore, rec: dict[str, Any], jobs: int, stop: Callable[[], bool],
                       on_event: EventHook | None) -> None:
    from engine.train.runner import JobRunner

    runner = JobRunner(rs.path, max_concurrent=jobs)
    runs = rec["runs"]
    ids: list[int] = []
    try:
        while True:
            waiting = False
            for r in runs:  # a run that starts from another one is submitted once that one is done
                if not r.get("run_id"):
                    state, config = depends.resolve(r["config"], runs, rs)
                    waiting = waiting or state == "wait"
                    if state == "ready":
                        r["run_id"] = runner.submit(r["spec"], config, name=_run_name(rec["name"], rec["id"], r))
                        es.set_runs(rec["id"], runs)
            ids = [int(r["run_id"]) for r in runs if r.get("run_id")]
            runner.pump()
            if stop():
                for run_id in ids:
                    if (row := rs.get_run(run_id)) and row["status"] not in FINAL_STATUSES:
                        runner.cancel(run_id)
                return
            statuses = [(rs.get_run(i) or {}).get("status") for i in ids]
            es.set_progress(rec["id"], {"phase": f"training: {sum(s in FINAL_STATUSES for s in statuses)}/{len(ids)} "
                                                 "runs done"})
            if on_event is not None:
                on_event(None, None)
            if all(s in FINAL_STATUSES for s in statuses) and not waiting:
                for r in runs:
                    if not r.get("reused"):
                        stamp(rs, int(r["run_id"]))
                return
            time.sleep(0.5)
    finally:
        runner.shutdown()


def analyse(exp_id: int, store_path: str | Path | None = None, *, on_event: EventHook | None = None) -> dict[str, Any]:
    """Compute the experiment's results from its stored runs and save them in the record (re-runnable)."""
    es, rs = ExperimentStore(store_path), RunStore(store_path)
    rec = es.get(exp_id)
    if rec is None:
        raise SpecError("experiment", f"no experiment {exp_id} in {es.path}")
    exp = get_experiment(rec["name"])
    opts = exp.parse_options(rec["options"])
    stored = [StoredRun(_plan(r), int(r["run_id"]), rs.get_run(int(r["run_id"])) or {})
              for r in rec["runs"] if r.get("run_id")]

    def report(msg: str) -> None:
        es.set_progress(exp_id, {"phase": f"analysing: {msg}"})
        if on_event is not None:
            on_event(None, None)

    results = exp.analyse(AnalysisContext(rs, opts, stored, report))
    results.setdefault("runs", [{"label": s.plan.label, "seed": s.plan.seed, "run_id": s.run_id,
                                 "status": s.row.get("status")} for s in stored])
    es.set_results(exp_id, results)
    return results


# ---- the dashboard's entry: one detached process per experiment ------------------------------------------


def _driver_main(store_path: str, exp_id: int, jobs: int) -> None:
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    logging.basicConfig(level=logging.WARNING)
    try:
        execute(exp_id, store_path, jobs=jobs, should_stop=stop.is_set)
    except Exception:  # noqa: BLE001 - recorded as failed in the experiment record
        log.exception("experiment %d failed", exp_id)
        raise SystemExit(1) from None


def launch(exp_id: int, store_path: str | Path | None = None, *, jobs: int = 1) -> int:
    """Run the experiment in a detached child process (the runs go through its job runner); returns its pid.
    The caller (the dashboard) never trains, and a restart of the caller does not stop the experiment."""
    es = ExperimentStore(store_path)
    proc = mp.get_context("spawn").Process(target=_driver_main, args=(str(es.path), exp_id, max(1, jobs)),
                                           name=f"skiplab-experiment-{exp_id}")
    proc.start()
    mp.process._children.discard(proc)  # type: ignore[attr-defined] - not joined at exit (see JobRunner._start)
    _ZOMBIES.append(proc)
    es.set_pid(exp_id, proc.pid or 0)
    es.transition(exp_id, ("queued",), "running")
    return int(proc.pid or 0)


_ZOMBIES: list[Any] = []


def reap() -> None:
    """Join finished driver processes of this process (so a dead driver is not a zombie that looks alive)."""
    for proc in list(_ZOMBIES):
        proc.join(0)
        if proc.exitcode is not None:
            _ZOMBIES.remove(proc)


def cancel(exp_id: int, store_path: str | Path | None = None) -> str:
    """Cancel an active experiment: its driver stops and cancels its runs. Returns the experiment's status."""
    es = ExperimentStore(store_path)
    rec = es.get(exp_id)
    if rec is None:
        raise SpecError("experiment", f"no experiment {exp_id} in {es.path}")
    if rec["status"] in EXP_ACTIVE:
        es.transition(exp_id, EXP_ACTIVE, "cancelled", "cancelled by the user")
        pid = rec.get("pid")
        if pid and pid_alive(int(pid), rec.get("pid_start")):
            _kill(int(pid))
        # Runs the driver may not get to (it died, or is between polls): queued ones never start, running ones
        # get the same SIGTERM a cancel on the Train page sends, and record `cancelled` with their data.
        rs = RunStore(store_path)
        for r in rec["runs"]:
            row = rs.get_run(r["run_id"]) if r.get("run_id") else None
            if row is None:
                continue
            if not rs.transition(row["id"], ["queued"], "cancelled", "experiment cancelled") and \
                    row["status"] == "running" and row.get("pid") and pid_alive(int(row["pid"]), row.get("pid_start")):
                _kill(int(row["pid"]))
    return str((es.get(exp_id) or {}).get("status"))


def _kill(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.kill(pid, signal.SIGTERM)
