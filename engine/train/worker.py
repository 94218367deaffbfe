"""The job runner's child-process entry point. Kept free of torch imports at module level: the spawned
interpreter imports this module first, so the OpenMP settings below apply before torch loads.

``OMP_WAIT_POLICY=PASSIVE`` (unless the user set it): by default libgomp threads spin while they wait,
and when more threads than cores are busy (the dashboard, another run, a browser) every parallel op
waits for a descheduled spinner. Measured on the 2-core CI box under load: a small linear+CE step took
100 ms with spinning threads vs 0.7 ms passive (and 0.6 ms with one thread).
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import threading

log = logging.getLogger(__name__)


def main(store_path: str, run_id: int, threads: int) -> None:
    """Train one stored run and record it. SIGTERM / SIGINT stop it after the current step (cancelled)."""
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    # A session of its own: a Ctrl-C, a closed terminal or a kill of the dashboard's process group stops the
    # dashboard, not this run, which keeps writing to the store; the restarted dashboard re-attaches.
    with contextlib.suppress(OSError):
        os.setsid()
    stop = threading.Event()

    def request_stop(_signum: int, _frame: object) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)  # Ctrl-C in the dashboard's terminal: stop, keep the data

    import torch

    from engine.store import RunStore
    from engine.train.record import run_and_record

    torch.set_num_threads(threads)  # concurrent runs share the cores instead of oversubscribing them
    store = RunStore(store_path)
    try:
        for _ in run_and_record(store, run_id, should_stop=stop.is_set):
            pass
    except Exception:  # noqa: BLE001 - recorded as `failed` by run_and_record; the process just ends
        log.exception("run %d failed", run_id)
        raise SystemExit(1) from None
