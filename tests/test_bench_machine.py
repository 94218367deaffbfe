"""The benches' busy-machine rule (bench/_machine.py, bench/train.py): a ratio measured while other processes used
the CPU is withheld with the reason, not reported as if the machine had been quiet."""

from __future__ import annotations

import argparse
import os

import pytest

from bench import train as train_bench
from bench._machine import Watch, Window


def test_watch_measures_the_rest_of_the_machine():
    with Watch() as w:
        sum(range(200_000))
    window = w.window
    assert window.wall_s > 0 and len(window.loadavg_start) == 3
    if os.path.exists("/proc/stat"):
        assert 0 <= window.others_cores <= (os.cpu_count() or 1) + 0.5


def test_quiet_uses_other_processes_cpu_or_else_the_load_average():
    busy = Window(1.0, 1.5, (0.0, 0.0, 0.0), (3.0, 0.0, 0.0))
    assert not busy.quiet(0.25, own_threads=2)
    assert Window(1.0, 0.1, (0.0, 0.0, 0.0), (9.0, 0.0, 0.0)).quiet(0.25, own_threads=2)  # /proc wins over load
    assert Window(1.0, None, (0.0, 0.0, 0.0), (2.1, 0.0, 0.0)).quiet(0.25, own_threads=2)  # no /proc: load - us
    assert not Window(1.0, None, (0.0, 0.0, 0.0), (3.0, 0.0, 0.0)).quiet(0.25, own_threads=2)


@pytest.mark.parametrize("others, reported", [(0.1, True), (1.5, False)])
def test_a_ratio_from_a_busy_machine_is_withheld(monkeypatch, others, reported):
    class FakeWatch:
        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.window = Window(2.0, others, (1.0, 1.0, 1.0), (1.0, 1.0, 1.0))

    monkeypatch.setattr(train_bench, "Watch", FakeWatch)
    b = train_bench.Bench(argparse.Namespace(device="cpu", amp="auto", max_busy=0.25, retries=1))
    calls = []
    res = b.measured(lambda: calls.append(1) or {"ratio_of_medians": 0.99}, ("ratio_of_medians",))
    assert res["machine"]["quiet"] is reported
    if reported:
        assert res["ratio_of_medians"] == 0.99 and len(calls) == 1
    else:  # retried once, then withheld with the reason and the number kept apart
        assert res["ratio_of_medians"] is None and res["ratio_of_medians_refused"] == 0.99 and len(calls) == 2
        assert "other processes used 1.50 cores" in res["refused"]


def test_bench_train_runs_each_measurement_at_a_tiny_size():
    """bench/train.py drives the trainer's parts by hand; a change to their protocol (the monitor's
    gradient_stats before the step, record after) must break a test, not only the bench (it did once)."""
    from engine.data import load_dataset

    b = train_bench.Bench(argparse.Namespace(device="cpu", amp="off", max_busy=1e6, retries=0))
    ds = load_dataset("shapes", train_size=64, val_size=16)
    case = train_bench.trainer_vs_bare(b, "resnet20", ds, 2, 1, 8)
    assert case["ratio_of_medians"] > 0
    monitor = train_bench.monitor_overhead(b, "resnet20", ds, 2, 8)
    assert monitor["step_s_monitored_median"] > 0 and monitor["monitor_work_alone_s"] > 0
    assert train_bench.flops(b, case)
