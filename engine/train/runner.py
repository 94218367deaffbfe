"""Job runner: each run trains in its own child process (multiprocessing ``spawn``), never in the
caller's process, so a crash or an OOM kills a run and not the dashboard.

    run_id = submit("resnet20", {"dataset": "shapes", "steps": 400}, store_path)
    status(run_id, store_path)   # queued | running | done | failed | cancelled | diverged | interrupted
    cancel(run_id, store_path)

All state lives in the store, none in memory: a restarted dashboard sees the same queue, can cancel a
run started before the restart, and marks a run whose process died ``interrupted`` the next time it
looks (`RunStore.reap_dead_runs`). A concurrency limit counts every ``running`` run in the store; the
queue is drained on every call and by a small background thread while this process has runs queued.

Cancel sends SIGTERM; the worker turns it into a stop flag polled once per step, then records
``cancelled`` with its data kept. A worker that does not finish within the grace period (still
importing torch, or stuck in one very long step) is killed and marked ``cancelled`` by the runner.

As with any ``spawn`` start method, a script that submits runs needs the ``if __name__ == "__main__":``
guard (the child imports the parent's main module); Streamlit and pytest entry points have it.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing as mp
import os
import signal
import threading
import time
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import Any

from engine.arch import SpecLike
from engine.store import RunStore, pid_alive
from engine.train import worker
from engine.train.config import TrainConfig
from engine.train.events import FINAL_STATUSES
from engine.train.record import create_run

log = logging.getLogger(__name__)

CANCEL_GRACE_S = 1.5  # SIGTERM first; SIGKILL after this, so cancel returns within 2 s
ORPHAN_AFTER_S = 60.0  # a run claimed (running) whose process never recorded a pid


class JobRunner:
    """Starts queued runs of one store in child processes, at most ``max_concurrent`` at a time."""

    def __init__(self, store_path: str | Path | None = None, *, max_concurrent: int = 1,
                 poll_s: float = 0.5) -> None:
        self.store = RunStore(store_path)
        self.max_concurrent = max(1, int(max_concurrent))
        self.poll_s = poll_s
        self._procs: dict[int, BaseProcess] = {}
        self._lock = threading.RLock()
        self._thread: threading.Thread | None = None
        self._ctx = mp.get_context("spawn")

    # ---- public API ------------------------------------------------------------------------------

    def submit(self, spec: SpecLike, config: TrainConfig | dict[str, Any] | None = None,
               name: str | None = None) -> int:
        """Validate and queue a run; it starts at once if under the concurrency limit. Returns its id."""
        run_id = create_run(self.store, spec, config, status="queued", name=name)
        self.pump()
        self._ensure_thread()
        return run_id

    def status(self, run_id: int) -> str:
        self.pump()
        run = self.store.get_run(run_id)
        if run is None:
            raise ValueError(f"no run {run_id} in {self.store.path}; list runs with `python -m engine runs`")
        return str(run["status"])

    def cancel(self, run_id: int, timeout: float = CANCEL_GRACE_S) -> str:
        """Stop a queued or running run, keeping what it logged. Returns the final status."""
        if self.store.transition(run_id, ["queued"], "cancelled", "cancelled before it started"):
            return "cancelled"
        run = self.store.get_run(run_id)
        if run is None:
            raise ValueError(f"no run {run_id} in {self.store.path}")
        if run["status"] != "running":
            return str(run["status"])
        with self._lock:  # no pump in between: the next queued run starts once this worker has exited
            pid = run["pid"] or (self._procs[run_id].pid if run_id in self._procs else None)
            if pid is not None:
                _signal(pid, signal.SIGTERM)
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                if self._final(run_id) or (pid is not None and not pid_alive(pid)):
                    break
                if run_id in self._procs:
                    self._procs[run_id].join(0.05)
                else:
                    time.sleep(0.05)
            else:
                if pid is not None:
                    _signal(pid, signal.SIGKILL)
            # Its status says `cancelled` a moment before the process ends: wait for the end (or kill it), so
            # max_concurrent counts it until it is gone.
            self._wait_exit(run_id, pid, max(deadline - time.monotonic(), 0.5))
            # The reaper may have seen the killed worker first and said `interrupted`; the user asked for a cancel.
            self.store.transition(run_id, ["running", "interrupted"], "cancelled", "cancelled by the user")
        self.pump()
        return self.status(run_id)

    def delete(self, run_id: int) -> bool:
        """Cancel the run if it is queued or running (its worker stops and exits), then delete it and its data."""
        run = self.store.get_run(run_id)
        if run is not None and run["status"] in ("queued", "running"):
            self.cancel(run_id)
        return self.store.delete_run(run_id)

    def _wait_exit(self, run_id: int, pid: int | None, timeout: float = CANCEL_GRACE_S) -> None:
        """Until the worker's process has exited (joined if it is our child); SIGKILL after `timeout` seconds."""
        if pid is None:
            return
        deadline = time.monotonic() + timeout
        while pid_alive(pid) and time.monotonic() < deadline:
            if run_id in self._procs:
                self._join(run_id, 0.05)
            else:
                time.sleep(0.05)
        if pid_alive(pid):
            _signal(pid, signal.SIGKILL)
        self._join(run_id, 0.3)

    def wait(self, run_id: int, timeout: float | None = None) -> str:
        """Block until the run reaches a final status (or ``timeout`` seconds); returns the status."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            st = self.status(run_id)
            if st in FINAL_STATUSES or (deadline is not None and time.monotonic() > deadline):
                return st
            time.sleep(0.1)

    def pump(self) -> list[int]:
        """Reap finished or dead workers, then start queued runs up to the limit. Returns the started ids."""
        started: list[int] = []
        with self._lock:
            for run_id in list(self._procs):
                self._join(run_id, 0)
            self.store.reap_dead_runs()
            self._reap_orphans()
            while (run_id := self.store.claim_next_queued(self.max_concurrent)) is not None:
                self._start(run_id)
                started.append(run_id)
        return started

    def resume(self) -> None:
        """Attach to the store after a (re)start: mark runs whose process died ``interrupted``, start queued
        runs up to the limit, and keep draining the queue (runs queued by a dashboard that has stopped)."""
        self.pump()
        if self.store.list_runs("queued"):
            self._ensure_thread()

    def shutdown(self, cancel_running: bool = False) -> None:
        """Stop the queue thread; optionally cancel the runs this runner started."""
        thread, self._thread = self._thread, None
        if thread is not None:
            thread.join(timeout=2 * self.poll_s + 1)
        if cancel_running:
            for run_id in list(self._procs):
                self.cancel(run_id)

    # ---- internals -------------------------------------------------------------------------------

    def _start(self, run_id: int) -> None:
        threads = max(1, (os.cpu_count() or 1) // self.max_concurrent)
        proc = self._ctx.Process(target=worker.main, args=(str(self.store.path), run_id, threads),
                                 name=f"skiplab-run-{run_id}")
        try:
            proc.start()
        except Exception as exc:
            self.store.transition(run_id, ["running"], "failed", f"could not start the worker process: {exc}")
            raise
        # Not a child multiprocessing waits for at exit: a dashboard restart must not block on, or kill,
        # a training run (its state is in the store). We reap it ourselves in `_join`.
        mp.process._children.discard(proc)  # type: ignore[attr-defined]
        self._procs[run_id] = proc
        self.store.set_pid(run_id, proc.pid)
        log.info("run %d started in process %s", run_id, proc.pid)

    def _join(self, run_id: int, timeout: float) -> None:
        proc = self._procs.get(run_id)
        if proc is None:
            return
        proc.join(timeout)
        if proc.exitcode is not None:  # reaped (no zombie left), so liveness checks see it as gone
            del self._procs[run_id]
            if not self._final(run_id):
                self.store.reap_dead_runs()

    def _final(self, run_id: int) -> bool:
        run = self.store.get_run(run_id)
        return run is None or run["status"] in FINAL_STATUSES

    def _reap_orphans(self) -> None:
        now = time.time()
        for run in self.store.list_runs("running"):
            if run["pid"] is None and run["id"] not in self._procs and \
                    now - (run["heartbeat_at"] or run["created_at"]) > ORPHAN_AFTER_S:
                self.store.transition(run["id"], ["running"], "interrupted", "the worker process never started")

    def _ensure_thread(self) -> None:
        if self._thread is not None and self._thread.is_alive():
            return
        self._thread = threading.Thread(target=self._loop, name="skiplab-job-runner", daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        # Drains the queue as runs finish; ends once nothing of ours is running or queued.
        me = threading.current_thread()
        while self._thread is me:
            try:
                self.pump()
                if not self._procs and not self.store.list_runs("queued"):
                    break
            except Exception:  # noqa: BLE001 - a transient store error must not kill the queue thread
                log.exception("job runner poll failed")
            time.sleep(self.poll_s)
        if self._thread is me:
            self._thread = None


def _signal(pid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.kill(pid, sig)


_RUNNERS: dict[tuple[str, int], JobRunner] = {}


def get_runner(store_path: str | Path | None = None, max_concurrent: int = 1) -> JobRunner:
    """One runner per store path and limit in this process (what the dashboard caches)."""
    key = (str(RunStore(store_path).path), max_concurrent)
    if key not in _RUNNERS:
        _RUNNERS[key] = JobRunner(key[0], max_concurrent=max_concurrent)
        _RUNNERS[key].resume()
    return _RUNNERS[key]


def submit(spec: SpecLike, config: TrainConfig | dict[str, Any] | None = None,
           store_path: str | Path | None = None, *, max_concurrent: int = 1, name: str | None = None) -> int:
    return get_runner(store_path, max_concurrent).submit(spec, config, name=name)


def cancel(run_id: int, store_path: str | Path | None = None) -> str:
    return get_runner(store_path).cancel(run_id)


def status(run_id: int, store_path: str | Path | None = None) -> str:
    return get_runner(store_path).status(run_id)
