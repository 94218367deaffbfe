"""Deleting a running run cancels it first; a worker whose run disappears stops (issue 14, class 6)."""

from __future__ import annotations

import pytest

from engine.store import RunStore, StoreError, pid_alive
from engine.train.record import create_run, run_and_record, stop_when_gone
from engine.train.runner import JobRunner
from tests.fuzz_strategies import bounded
from tests.test_train_runner import LONG, logging_started, runners, wait_for  # noqa: F401  (fixture)
from tests.train_helpers import one_torch_thread  # noqa: F401  (autouse fixture)


def test_the_store_refuses_to_delete_an_active_run(tmp_path) -> None:  # noqa: ANN001
    store = RunStore(tmp_path / "runs.sqlite")
    for status in ("queued", "running"):
        run_id = store.create_run("r", {"family": "resnet"}, {}, "shapes", "cpu", status=status)
        with pytest.raises(StoreError, match=f"run {run_id} is {status}: cancel it first"):
            store.delete_run(run_id)
        assert store.get_run(run_id) is not None


def test_deleting_a_running_run_stops_its_worker(tmp_path, runners) -> None:  # noqa: ANN001, F811
    runner = JobRunner(tmp_path / "runs.sqlite", max_concurrent=1)
    runners.append(runner)
    run_id = runner.submit("resnet8", LONG)
    wait_for(logging_started(runner.store, run_id), what="the worker's first step")
    pid = runner.store.get_run(run_id)["pid"]
    assert runner.delete(run_id)
    assert runner.store.get_run(run_id) is None
    wait_for(lambda: not pid_alive(pid), timeout=10, what="the worker to exit")
    assert runner.store.list_runs("running") == []  # nothing left for the concurrency limit to miss


def test_the_next_queued_run_starts_only_once_the_deleted_one_stopped(tmp_path, runners) -> None:  # noqa: ANN001, F811
    """max_concurrent=1 holds through a delete: the queued run starts when the deleted run's worker is gone (the code
    before deleted the row only, so the next run started beside a worker still training, unseen by the limit)."""
    runner = JobRunner(tmp_path / "runs.sqlite", max_concurrent=1)
    runners.append(runner)
    first, second = runner.submit("resnet8", LONG), runner.submit("resnet8", LONG)
    wait_for(logging_started(runner.store, first), what="the first run's first step")
    assert runner.status(second) == "queued"
    pid = runner.store.get_run(first)["pid"]
    assert runner.delete(first)
    wait_for(lambda: runner.status(second) == "running", what="the queued run to start")
    assert not pid_alive(pid), "two trainings at once under max_concurrent=1"
    runner.cancel(second)


def test_a_training_whose_run_was_deleted_stops_by_itself(tmp_path) -> None:  # noqa: ANN001
    """A run deleted by another process (an old dashboard, a script): its training notices within a second."""
    store = RunStore(tmp_path / "runs.sqlite")
    config = {**LONG, "steps": 10**6, "act_every": 0}
    run_id = create_run(store, "resnet8", config, status="running")
    steps = 0
    with bounded(120, "a training into a deleted run"):  # the code before trained on for all 10^6 steps
        for ev in run_and_record(store, run_id):
            steps = max(steps, getattr(ev, "step", 0))
            if steps >= 2 and store.get_run(run_id) is not None:
                store.delete_run(run_id, active=True)  # what a client without the guard would have done
    assert steps < 10**6 and store.get_run(run_id) is None


def test_stop_when_gone_checks_at_most_once_a_period(tmp_path) -> None:  # noqa: ANN001
    store = RunStore(tmp_path / "runs.sqlite")
    run_id = store.create_run("r", {"family": "resnet"}, {}, "shapes", "cpu", status="running")
    check = stop_when_gone(store, run_id, None, every=3600)
    store.set_status(run_id, "cancelled")
    assert not check()  # not looked yet: the store is read once an hour here, never per step
    assert stop_when_gone(store, run_id, None, every=0)()
