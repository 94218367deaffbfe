"""Landscapes for the dashboard: each computation in a detached child process (multiprocessing ``spawn``), never in
the caller's (the Streamlit server's) process; its state lives in the store's ``landscapes`` table, so any viewer
polls it and a restarted dashboard finds it again.

    job_id = launch_surface(store_path, run_id, {"dim": 2, "grid": 21})
    job(job_id, store_path)      # {"status": "running", "progress": 0.4, "phase": "loss 180/441", ...}
    cancel(job_id, store_path)

Like the job runner (engine.train.runner), the caller needs the ``if __name__ == "__main__":`` guard when it is a
script; Streamlit and pytest have it.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing as mp
import os
import signal
from pathlib import Path
from typing import Any

from engine.arch import SpecLike, load_spec
from engine.lab.landscape import worker
from engine.lab.landscape.options import LandscapeOptions
from engine.lab.landscape.record import check_shatter, check_surface
from engine.lab.landscape.shatter import ShatterOptions
from engine.spec import to_dict
from engine.store.db import pid_alive
from engine.store.landscapes import LANDSCAPE_ACTIVE, LandscapeStore

log = logging.getLogger(__name__)

_CHILDREN: list[Any] = []


def _threads() -> int:
    # one computation at a time per dashboard: it may use the cores, minus one for the server and the browser
    return max(1, (os.cpu_count() or 1) - 1)


def _start(ls: LandscapeStore, job_id: int) -> int:
    proc = mp.get_context("spawn").Process(target=worker.main, args=(str(ls.path), job_id, _threads()),
                                           name=f"skiplab-landscape-{job_id}")
    try:
        proc.start()
    except Exception as exc:
        ls.transition(job_id, LANDSCAPE_ACTIVE, "failed", f"could not start the landscape process: {exc}")
        raise
    mp.process._children.discard(proc)  # type: ignore[attr-defined] - not joined at exit (see JobRunner._start)
    _CHILDREN.append(proc)
    ls.set_pid(job_id, proc.pid or 0)
    return job_id


def launch_surface(store_path: str | Path | None, run_id: int,
                   options: LandscapeOptions | dict[str, Any] | None = None) -> int:
    """Validate (errors before anything is written), record a queued surface and start its process."""
    opts = check_surface(store_path, run_id, options)
    ls = LandscapeStore(store_path)
    return _start(ls, ls.create("surface", opts.to_dict(), run_id))


def launch_shatter(store_path: str | Path | None, specs: list[SpecLike],
                   options: ShatterOptions | dict[str, Any] | None = None) -> int:
    opts = check_shatter(specs, options)
    ls = LandscapeStore(store_path)
    return _start(ls, ls.create("shatter", {**opts.to_dict(), "specs": [to_dict(load_spec(s)) for s in specs]}))


def reap() -> None:
    """Join finished children of this process, so a dead one is not a zombie that looks alive."""
    for proc in list(_CHILDREN):
        proc.join(0)
        if proc.exitcode is not None:
            _CHILDREN.remove(proc)


def job(job_id: int, store_path: str | Path | None = None) -> dict[str, Any] | None:
    """The record (status, progress, phase, error, result), after marking a dead process ``interrupted``."""
    reap()
    ls = LandscapeStore(store_path)
    ls.reap_dead()
    return ls.get(job_id)


def cancel(job_id: int, store_path: str | Path | None = None) -> str:
    """Stop a queued or running computation; returns its status."""
    ls = LandscapeStore(store_path)
    rec = ls.get(job_id)
    if rec is None:
        raise ValueError(f"no landscape {job_id} in {ls.path}")
    if rec["status"] in LANDSCAPE_ACTIVE:
        ls.transition(job_id, LANDSCAPE_ACTIVE, "cancelled", "cancelled by the user")
        if rec.get("pid") and pid_alive(int(rec["pid"]), rec.get("pid_start")):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(int(rec["pid"]), signal.SIGTERM)
    return str((ls.get(job_id) or {}).get("status"))
