"""The dashboard's background warm-up: one thread per server process, after the first page, never Streamlit."""

from __future__ import annotations

import sys
import threading
import time

from dashboard import warmup


def _thread() -> threading.Thread | None:
    return next((t for t in threading.enumerate() if t.name == "skiplab-warmup"), None)


def test_warm_up_starts_once_and_loads_the_trainer(monkeypatch):
    monkeypatch.setattr(warmup, "_started", threading.Event())
    monkeypatch.delenv("SKIPLAB_WARMUP", raising=False)
    assert warmup.warm_in_background() is True
    assert warmup.warm_in_background() is False  # every later rerun: nothing new
    thread = _thread()
    if thread is not None:
        thread.join(120)
    assert "engine.train.runner" in sys.modules and "torch" in sys.modules


def test_warm_up_can_be_turned_off(monkeypatch):
    monkeypatch.setattr(warmup, "_started", threading.Event())
    monkeypatch.setenv("SKIPLAB_WARMUP", "0")
    assert warmup.warm_in_background() is False and not warmup._started.is_set()


def test_warm_up_waits_for_the_server_to_be_quiet(monkeypatch):
    """Started at the end of the first run, the import would hold the GIL while the browser still fetches the
    page's last pieces (issue 21): it waits until no script has run for QUIET_S."""
    monkeypatch.setattr(warmup, "QUIET_S", 0.3)
    with warmup.script_run():
        assert not warmup.quiet()  # a run in progress
    assert not warmup.quiet()  # one just ended
    time.sleep(0.35)
    assert warmup.quiet()
    with warmup.script_run(), warmup.script_run():  # two sessions at once
        assert not warmup.quiet()


def test_a_run_that_stops_early_still_counts_as_ended(monkeypatch):
    monkeypatch.setattr(warmup, "QUIET_S", 0.0)
    try:
        with warmup.script_run():
            raise RuntimeError("st.stop / st.rerun leave a run by an exception")
    except RuntimeError:
        pass
    assert warmup.quiet()
