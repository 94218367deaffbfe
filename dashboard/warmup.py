"""Warm the heavy libraries in the background once the server has gone quiet after its first page.

The first page (Build) needs no torch: the IR analysis is plain Python. Training, export and the cross-check do,
and importing torch and the trainer takes seconds on a small machine. So after the first script run of a server
process, one daemon thread imports them (`engine.api.warm_up`), while the user reads the first page; the next
page that needs them finds them loaded.

When it starts matters. An import holds the GIL, and the server's main thread needs the GIL to send the page's
last messages and to serve the front end's files (the graph view's script, the table's chunks): started as soon as
the first script run ended, the warm-up delayed the graph view by 1.25 s (bench, 2 cores). So the thread waits
until no script has run for `QUIET_S` seconds: the browser has drawn the page by then (it takes about a second
after the script ends here), and the user is reading it. A user who clicks during the import waits for it; one who
clicks before it starts postpones it.

The thread only imports modules: it never calls Streamlit. On Linux it runs at nice 19 (a thread has its own nice
value there, man 2 setpriority), so it takes only CPU nobody else wants. `SKIPLAB_WARMUP=0` turns it off.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import threading
import time
from collections.abc import Iterator

log = logging.getLogger(__name__)
QUIET_S = 2.0  # seconds without a script run before the warm-up starts
POLL_S = 0.25
_started = threading.Event()
_lock = threading.Lock()
_running = 0  # script runs in progress, all sessions of this process
_last_end = time.monotonic()


@contextlib.contextmanager
def script_run() -> Iterator[None]:
    """Wrap one script run (dashboard/app.py): the warm-up never starts while one is in progress, nor within
    `QUIET_S` of one ending."""
    global _running, _last_end
    with _lock:
        _running += 1
    try:
        yield
    finally:
        with _lock:
            _running -= 1
            _last_end = time.monotonic()


def quiet() -> bool:
    """No script running, and none for `QUIET_S` seconds."""
    with _lock:
        return _running == 0 and time.monotonic() - _last_end >= QUIET_S


def _warm() -> None:
    if sys.platform == "linux":
        with contextlib.suppress(OSError):
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 19)
    while not quiet():
        time.sleep(POLL_S)
    try:
        from engine.api import warm_up

        warm_up()
    except Exception:  # noqa: BLE001 - a failed warm-up only means the first use pays the import, as before
        log.warning("background warm-up failed; the first page that needs torch will import it", exc_info=True)


def warm_in_background() -> bool:
    """Start the warm-up thread once per process; True when this call started it."""
    if _started.is_set() or os.environ.get("SKIPLAB_WARMUP", "1") == "0":
        return False
    _started.set()
    threading.Thread(target=_warm, name="skiplab-warmup", daemon=True).start()
    return True
