"""The child-process entry of a landscape computation (engine.lab.landscape.jobs). Free of torch imports at module
level: the spawned interpreter imports this module first, so the OpenMP setting below applies before torch loads
(engine.train.worker explains why: spinning OpenMP threads on shared cores)."""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import threading

log = logging.getLogger(__name__)


def main(store_path: str, job_id: int, threads: int) -> None:
    """The child's entry: compute the record's landscape; SIGTERM / SIGINT stop it at its next point."""
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # see engine.train.worker: spinning threads on shared cores
    with contextlib.suppress(OSError):
        os.setsid()  # a Ctrl-C of the dashboard's terminal stops the dashboard, not this computation
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    logging.basicConfig(level=logging.WARNING)
    import torch

    from engine.lab.landscape.record import run_landscape, shatter_specs
    from engine.store.landscapes import LANDSCAPE_ACTIVE, LandscapeStore

    torch.set_num_threads(threads)
    ls = LandscapeStore(store_path)
    rec = ls.get(job_id)
    if rec is None:
        return
    try:
        if rec["kind"] == "surface":
            for _ in run_landscape(store_path, int(rec["run_id"]), rec["options"], job_id=job_id,
                                   should_stop=stop.is_set):
                pass
        else:
            opts = {k: v for k, v in rec["options"].items() if k != "specs"}
            shatter_specs(store_path, rec["options"]["specs"], opts, job_id=job_id, should_stop=stop.is_set)
    except Exception as exc:  # noqa: BLE001 - recorded as failed; the process just ends
        log.exception("landscape %d failed", job_id)
        ls.transition(job_id, LANDSCAPE_ACTIVE, "failed", str(exc) or type(exc).__name__)
        raise SystemExit(1) from None
