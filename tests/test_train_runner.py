"""Job runner: child processes, queue and concurrency limit, cancel, kill -9, restart, readers during writes."""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import time

import numpy as np
import pytest

from engine.store import RunStore
from engine.train.record import create_run, run_and_record
from engine.train.runner import JobRunner

LONG = {"dataset": "shapes", "dataset_options": {"train_size": 64, "val_size": 16}, "steps": 100000,
        "batch_size": 16, "device": "cpu", "log_every": 1, "act_every": 5, "val_every": 0}
SHORT = {**LONG, "steps": 3}
SPAWN_S = 120  # a fresh interpreter imports torch; generous for a loaded CI machine


@pytest.fixture
def runners():
    """Runners made by a test; whatever they left running is killed afterwards, even if the test failed."""
    made: list[JobRunner] = []
    yield made
    for runner in made:
        runner.shutdown()
        for run in runner.store.list_runs("running"):
            if run["pid"]:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(run["pid"], signal.SIGKILL)
        runner.pump()


def wait_for(cond, timeout: float = SPAWN_S, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def logging_started(store: RunStore, run_id: int, min_step: int = 1):
    return lambda: (store.latest_step(run_id) or 0) >= min_step


def test_queue_cancel_and_a_reader_polling_during_writes(tmp_path, runners) -> None:
    runner = JobRunner(tmp_path / "runs.sqlite", max_concurrent=1)
    runners.append(runner)
    store = runner.store
    long_id = runner.submit("resnet8", LONG)
    short_id = runner.submit("resnet8", SHORT)
    never_id = runner.submit("resnet8", SHORT)
    assert [runner.status(i) for i in (long_id, short_id, never_id)] == ["running", "queued", "queued"]

    # cancelling a queued run is immediate and it never starts
    assert runner.cancel(never_id) == "cancelled"

    # a second reader (its own connection) polls while the child writes every step
    wait_for(logging_started(store, long_id), what="the first logged step")
    reader = RunStore(store.path)
    seen: list[int] = []
    errors: list[BaseException] = []

    def poll() -> None:
        try:
            deadline = time.monotonic() + SPAWN_S
            while len(seen) < 20 or (seen[-1] <= seen[0] and time.monotonic() < deadline):
                steps, matrix = reader.get_layer_matrix(long_id, "grad_norm")
                metrics = reader.get_metrics(long_id, ["loss"])
                assert matrix.shape == (len(reader.get_layers(long_id)), len(steps))
                assert np.all(np.diff(steps) > 0) and len(metrics["loss"][0]) >= 1
                seen.append(len(steps))
                time.sleep(0.02)
        except BaseException as exc:  # noqa: BLE001 - re-raised in the main thread
            errors.append(exc)

    t = threading.Thread(target=poll)
    t.start()
    t.join()
    assert not errors, errors
    assert seen == sorted(seen) and seen[-1] > seen[0], "the reader never saw new steps while the run wrote"

    t0 = time.monotonic()
    assert runner.cancel(long_id) == "cancelled"
    assert time.monotonic() - t0 < 2.0
    kept = store.latest_step(long_id)
    assert kept is not None and kept >= seen[-1]
    assert store.get_layer_matrix(long_id, "grad_norm")[1].shape[1] >= seen[-1]  # data kept

    # the queued run starts once the slot is free, and finishes
    assert runner.wait(short_id, SPAWN_S) == "done"
    run_long, run_short = store.get_run(long_id), store.get_run(short_id)
    assert run_short["started_at"] >= run_long["finished_at"]
    assert os.path.exists(run_short["summary"]["weights_path"])
    assert store.get_run(never_id)["status"] == "cancelled" and store.latest_step(never_id) is None


def test_two_concurrent_runs_kill_9_and_a_restarted_dashboard(tmp_path, runners) -> None:
    path = tmp_path / "runs.sqlite"
    runner = JobRunner(path, max_concurrent=2)
    runners.append(runner)
    a = runner.submit("resnet8", LONG)
    b = runner.submit("resnet8", LONG)
    store = runner.store
    wait_for(lambda: logging_started(store, a)() and logging_started(store, b)(), what="both runs logging")
    assert [runner.status(a), runner.status(b)] == ["running", "running"]  # two at once

    # the "dashboard" restarts: a new runner with no memory of these processes
    restarted = JobRunner(path, max_concurrent=2)
    pid_a = store.get_run(a)["pid"]
    os.kill(pid_a, signal.SIGKILL)
    wait_for(lambda: restarted.status(a) == "interrupted", timeout=10, what="run a marked interrupted")
    assert "ended without reporting" in store.get_run(a)["error"]
    assert store.latest_step(a) >= 1  # what it logged is still there

    t0 = time.monotonic()
    assert restarted.cancel(b) == "cancelled"  # a run started before the restart can be cancelled
    assert time.monotonic() - t0 < 2.0
    runner.pump()  # the original runner reaps its children without disturbing the statuses
    assert [store.get_run(i)["status"] for i in (a, b)] == ["interrupted", "cancelled"]


def test_a_failing_run_is_recorded_as_failed(tmp_path) -> None:
    store = RunStore(tmp_path / "runs.sqlite")
    run_id = create_run(store, "resnet8", {**SHORT, "dataset": "digits", "dataset_options": {}}, status="running")
    with pytest.raises(ValueError, match=r"\[1, 8, 8\]"):
        list(run_and_record(store, run_id))
    run = store.get_run(run_id)
    assert run["status"] == "failed" and "[3, 32, 32]" in run["error"]


def test_create_run_validates_before_writing(tmp_path) -> None:
    store = RunStore(tmp_path / "runs.sqlite")
    with pytest.raises(ValueError, match=r"config\.batch_size"):
        create_run(store, "resnet8", {"batch_size": -1})
    with pytest.raises(ValueError, match="unknown dataset"):
        create_run(store, "resnet8", {"dataset": "imagenet22k"})
    assert store.list_runs() == []
