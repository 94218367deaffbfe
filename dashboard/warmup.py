"""Warm the heavy libraries in the background once the first page is drawn.

The first page (Build) needs no torch: the IR analysis is plain Python. Training, export and the cross-check do,
and importing torch and the trainer takes seconds on a small machine. So after the first script run of a server
process, one daemon thread imports them (`engine.api.warm_up`), while the user reads the first page; the next
page that needs them finds them loaded. The thread only imports modules: it never calls Streamlit. On Linux it runs at
nice 19 (a thread has its own nice value there, man 2 setpriority), so it takes only CPU nobody else wants: the
browser drawing the first page on the same laptop, or another session's script, goes first.
`SKIPLAB_WARMUP=0` turns it off.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import threading

log = logging.getLogger(__name__)
_started = threading.Event()


def _warm() -> None:
    if sys.platform == "linux":
        with contextlib.suppress(OSError):
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 19)
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
