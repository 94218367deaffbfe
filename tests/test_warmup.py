"""The dashboard's background warm-up: one thread per server process, after the first page, never Streamlit."""

from __future__ import annotations

import sys
import threading

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
