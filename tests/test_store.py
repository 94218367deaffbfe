"""engine.store: round trips, the layer matrix, concurrent writer/reader, size, liveness, clear errors."""

from __future__ import annotations

import csv
import multiprocessing as mp
import os
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from engine.store import RunStore, StoreError

N_LAYERS = 7


@pytest.fixture
def store(tmp_path: Path) -> RunStore:
    return RunStore(tmp_path / "runs.sqlite")


def _run(store: RunStore, status: str = "queued") -> int:
    spec = {"family": "resnet", "input": [3, 32, 32], "stages": [{"blocks": 2, "width": 16}]}
    return store.create_run("r", spec, {"lr": 0.1, "steps": 10}, "shapes", "cpu", status=status)


def test_run_round_trip(store: RunStore) -> None:
    a = _run(store)
    b = store.create_run("second", {"family": "mlp"}, {}, "digits", "cpu", world_size=2)
    run = store.get_run(a)
    assert run is not None
    assert run["spec"]["stages"] == [{"blocks": 2, "width": 16}] and run["config"] == {"lr": 0.1, "steps": 10}
    assert run["status"] == "queued" and run["started_at"] is None and run["summary"] is None
    assert [r["id"] for r in store.list_runs()] == [b, a]  # newest first
    assert store.get_run(b)["world_size"] == 2  # type: ignore[index]
    store.set_status(a, "running")
    started = store.get_run(a)["started_at"]  # type: ignore[index]
    assert started is not None
    store.set_status(a, "failed", error="CUDA out of memory")
    run = store.get_run(a)
    assert run is not None and run["status"] == "failed" and run["error"] == "CUDA out of memory"
    assert run["started_at"] == started and run["finished_at"] >= started
    store.set_summary(a, {"best_val_acc": np.float32(0.5), "curve": np.arange(3)})
    assert store.get_run(a)["summary"] == {"best_val_acc": 0.5, "curve": [0, 1, 2]}  # type: ignore[index]
    assert [r["id"] for r in store.list_runs(status="failed")] == [a]
    assert store.get_run(999) is None
    with pytest.raises(ValueError, match="unknown run status 'finished'"):
        store.set_status(a, "finished")
    with pytest.raises(StoreError, match="no run 999"):
        store.set_status(999, "done")


def test_default_path_from_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SKIPLAB_STORE", str(tmp_path / "env" / "s.sqlite"))
    assert RunStore().path == tmp_path / "env" / "s.sqlite"
    assert (tmp_path / "env" / "s.sqlite").exists()


def test_layers_and_metrics(store: RunStore) -> None:
    r = _run(store)
    layers = [{"name": f"stage1.block{i}.conv", "op": "conv", "stage": "stage1", "numel": 100 + i,
               "group": "g"} for i in range(3)]
    store.set_layers(r, layers)
    got = store.get_layers(r)
    assert [g["name"] for g in got] == [x["name"] for x in layers]
    assert got[2]["numel"] == 102 and got[0]["group"] == "g" and got[1]["idx"] == 1
    store.log_metrics(r, 0, {"loss": 2.0, "acc": 0.1})
    store.log_metrics_many(r, [(s, {"loss": 2.0 / (s + 1), "lr": 0.1}) for s in range(1, 5)])
    store.log_metrics(r, 5, {"loss": float("nan")})  # a diverged loss must come back as NaN
    m = store.get_metrics(r)
    assert sorted(m) == ["acc", "loss", "lr"]
    steps, values = m["loss"]
    assert steps.tolist() == [0, 1, 2, 3, 4, 5] and steps.dtype == np.int64
    assert np.allclose(values[:5], [2.0, 1.0, 2 / 3, 0.5, 0.4]) and np.isnan(values[5])
    assert store.get_metrics(r, ["lr"], since_step=2)["lr"][0].tolist() == [3, 4]
    assert store.latest_step(r) == 5


def test_layer_matrix_and_stats_at(store: RunStore) -> None:
    r = _run(store)
    store.set_layers(r, [{"name": f"l{i}"} for i in range(N_LAYERS)])
    assert store.get_layer_stats_at(r) is None
    steps, mat = store.get_layer_matrix(r, "grad_norm")
    assert steps.shape == (0,) and mat.shape == (N_LAYERS, 0)
    rng = np.random.default_rng(0)
    logged = [0, 10, 20, 30, 40]
    ref = {s: {"grad_norm": rng.random(N_LAYERS), "act_std": rng.random(N_LAYERS)} for s in logged}
    # out-of-order writes, split over two calls: reads must still come back sorted by step
    store.log_layer_stats_many(r, [(s, ref[s]) for s in (30, 0, 20)])
    store.log_layer_stats(r, 40, ref[40])
    store.log_layer_stats(r, 10, ref[10])
    steps, mat = store.get_layer_matrix(r, "grad_norm")
    assert steps.tolist() == logged and mat.dtype == np.float32 and mat.shape == (N_LAYERS, 5)
    expected = np.stack([ref[s]["grad_norm"] for s in logged], axis=1).astype(np.float32)
    assert np.array_equal(mat, expected) and mat.flags.c_contiguous
    steps, mat = store.get_layer_matrix(r, "act_std", since_step=20)
    assert steps.tolist() == [30, 40] and np.array_equal(mat[:, 1], ref[40]["act_std"].astype(np.float32))
    step, stats = store.get_layer_stats_at(r)  # type: ignore[misc]
    assert step == 40 and sorted(stats) == ["act_std", "grad_norm"]
    step, stats = store.get_layer_stats_at(r, 25)  # type: ignore[misc]
    assert step == 20 and np.array_equal(stats["grad_norm"], ref[20]["grad_norm"].astype(np.float32))
    assert store.layer_stat_names(r) == ["act_std", "grad_norm"]
    with pytest.raises(ValueError, match=r"has shape \[3\]; expected \[7\]"):
        store.log_layer_stats(r, 50, {"grad_norm": np.zeros(3)})


def test_alerts_export_and_delete(store: RunStore, tmp_path: Path) -> None:
    r = _run(store)
    store.set_layers(r, [{"name": "a"}, {"name": "b"}])
    store.log_metrics_many(r, [(0, {"loss": 1.5}), (1, {"loss": 1.25})])
    store.log_layer_stats_many(r, [(0, {"grad_norm": [1.0, 2.0]}), (1, {"grad_norm": [3.0, 4.0]})])
    first = store.add_alert(r, 1, "vanishing", "grad norm below 1e-7", layer="a")
    store.add_alert(r, 1, "nan", "loss is NaN")
    alerts = store.get_alerts(r)
    assert [(a["kind"], a["layer"]) for a in alerts] == [("vanishing", "a"), ("nan", None)]
    assert [a["kind"] for a in store.get_alerts(r, since_id=first)] == ["nan"]
    paths = store.export_csv(r, tmp_path / "export")
    assert [p.name for p in paths] == ["metrics.csv", "layer_stats.csv"]
    with open(paths[0]) as f:
        assert list(csv.reader(f)) == [["step", "key", "value"], ["0", "loss", "1.5"], ["1", "loss", "1.25"]]
    with open(paths[1]) as f:
        rows = list(csv.reader(f))
    assert rows[0] == ["step", "layer", "stat", "value"] and ["1", "b", "grad_norm", "4.0"] in rows
    assert len(rows) == 5
    with pytest.raises(StoreError, match="cancel it first"):  # a queued or running run is not deleted
        store.delete_run(r)
    store.set_status(r, "done")
    assert store.delete_run(r) and not store.delete_run(r)
    assert store.get_run(r) is None and store.get_metrics(r) == {} and store.get_alerts(r) == []
    assert store.get_layers(r) == [] and store.get_layer_stats_at(r) is None


def test_threads_get_their_own_connections(store: RunStore) -> None:
    r = _run(store)
    errors: list[BaseException] = []

    def work(k: int) -> None:
        try:
            for s in range(20):
                store.log_metrics(r, s, {f"t{k}": float(s)})
                store.get_metrics(r, [f"t{k}"])
        except BaseException as exc:  # noqa: BLE001 - surfaced by the assert below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert not errors
    assert all(len(store.get_metrics(r)[f"t{k}"][0]) == 20 for k in range(4))


def _writer(path: str, run_id: int, steps: int, n_layers: int) -> None:
    """Child process: log like a trainer does, one small transaction per step."""
    store = RunStore(path)
    store.set_status(run_id, "running")
    store.set_pid(run_id)
    rng = np.random.default_rng(1)
    for s in range(steps):
        store.log_metrics(run_id, s, {"loss": 1.0 / (s + 1), "acc": s / steps})
        store.log_layer_stats(run_id, s, {"grad_norm": rng.random(n_layers), "act_std": rng.random(n_layers)})
    store.set_status(run_id, "done")


def test_concurrent_writer_process_and_polling_reader(tmp_path: Path) -> None:
    path = tmp_path / "runs.sqlite"
    store = RunStore(path)
    r = _run(store)
    steps, n_layers = 300, 50
    store.set_layers(r, [{"name": f"l{i}"} for i in range(n_layers)])
    proc = mp.get_context("spawn").Process(target=_writer, args=(str(path), r, steps, n_layers))
    proc.start()
    deadline, polls, seen = time.monotonic() + 45, 0, -1
    try:
        while time.monotonic() < deadline:
            status = store.get_run(r)["status"]  # type: ignore[index]
            loss_steps, _ = store.get_metrics(r, ["loss"]).get("loss", (np.zeros(0), None))
            s, mat = store.get_layer_matrix(r, "grad_norm")
            assert mat.shape == (n_layers, len(s)) and np.all(np.diff(s) == 1)
            assert len(loss_steps) >= seen  # progress only ever grows
            seen, polls = len(loss_steps), polls + 1
            if status == "done":
                break
        proc.join(timeout=20)
    finally:
        if proc.is_alive():
            proc.kill()
    assert proc.exitcode == 0, "writer failed (see its stderr)"
    assert store.get_run(r)["status"] == "done" and polls > 1  # type: ignore[index]
    assert store.latest_step(r) == steps - 1
    assert store.get_layer_matrix(r, "act_std")[1].shape == (n_layers, steps)


def test_200_layers_10000_steps_fit_and_read_back(tmp_path: Path) -> None:
    """The design target: 200 layers x 10,000 steps of gradient statistics in well under 50 MB."""
    path = tmp_path / "big.sqlite"
    store = RunStore(path)
    r = _run(store, "running")
    n_layers, n_steps = 200, 10_000
    stats = ("grad_norm", "grad_mean_abs", "grad_max_abs", "update_ratio")
    store.set_layers(r, [{"name": f"layer{i}", "numel": 1000} for i in range(n_layers)])
    rng = np.random.default_rng(0)
    last_block = None
    for start in range(0, n_steps, 2000):  # batched flushes, as the trainer does
        block = rng.random((len(stats), 2000, n_layers), dtype=np.float32)
        store.log_layer_stats_many(
            r, [(start + t, {st: block[k, t] for k, st in enumerate(stats)}) for t in range(2000)]
        )
        last_block = block
    store.close()
    size = sum(p.stat().st_size for p in tmp_path.glob("big.sqlite*"))
    assert size < 50 * 2**20
    store = RunStore(path)
    steps, mat = store.get_layer_matrix(r, "grad_max_abs")
    assert steps.shape == (n_steps,) and mat.shape == (n_layers, n_steps)
    assert last_block is not None and np.array_equal(mat[:, -2000:], last_block[2].T)
    assert store.get_layer_matrix(r, "grad_norm", since_step=n_steps - 5)[1].shape == (n_layers, 4)


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()  # reaped: the pid no longer exists
    return proc.pid


def test_dead_writer_becomes_interrupted(store: RunStore) -> None:
    dead = _run(store, "running")
    store.set_pid(dead, _dead_pid())
    alive = _run(store, "running")
    store.set_pid(alive)  # this test process: alive
    queued = _run(store, "queued")
    store.set_pid(queued, _dead_pid())  # not running: never reaped
    no_pid = _run(store, "running")
    assert store.reap_dead_runs() == [dead]
    run = store.get_run(dead)
    assert run is not None and run["status"] == "interrupted" and run["finished_at"] is not None
    assert "ended without reporting" in run["error"]
    assert store.get_run(alive)["status"] == "running"  # type: ignore[index]
    assert store.get_run(queued)["status"] == "queued"  # type: ignore[index]
    assert not store.mark_interrupted_if_dead(dead)  # already interrupted: no change
    # a live pid with another start time is a reused pid: the original writer is gone
    with sqlite3.connect(store.path) as raw:
        raw.execute("UPDATE runs SET pid_start = 'not-the-same' WHERE id = ?", (alive,))
    if Path(f"/proc/{os.getpid()}/stat").exists():
        assert store.mark_interrupted_if_dead(alive)
    # no pid to check: only a stale heartbeat says it is gone
    assert not store.mark_interrupted_if_dead(no_pid)
    time.sleep(0.05)
    assert store.mark_interrupted_if_dead(no_pid, stale_after=0.01)


def test_store_errors_are_clear(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    with pytest.raises(StoreError, match=r"a-file is a file, not a directory; pass another path"):
        RunStore(blocker / "runs.sqlite")
    with pytest.raises(StoreError, match=r"cannot create the directory .*a-file/sub"):
        RunStore(blocker / "sub" / "runs.sqlite")
    garbage = tmp_path / "garbage.sqlite"
    garbage.write_bytes(b"this is certainly not an sqlite file\n" * 200)
    with pytest.raises(StoreError, match=r"garbage.sqlite is not a SkipLab run store .*move it aside"):
        RunStore(garbage)
    with pytest.raises(StoreError, match="is a directory"):
        RunStore(tmp_path)
    if Path("/proc").is_dir():  # a directory nobody can create files in, root included
        with pytest.raises(StoreError, match=r"cannot open or write the run store /proc/runs.sqlite"):
            RunStore("/proc/runs.sqlite")
    if os.geteuid() != 0:  # root ignores permission bits, so only a normal user can test this
        ro = tmp_path / "ro"
        ro.mkdir()
        ro.chmod(0o500)
        try:
            with pytest.raises(StoreError, match="writable"):
                RunStore(ro / "runs.sqlite")
        finally:
            ro.chmod(0o700)


def test_newer_schema_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "future.sqlite"
    RunStore(path).close()
    with sqlite3.connect(path) as raw:
        raw.execute("UPDATE schema_version SET version = 99")
    with pytest.raises(StoreError, match="schema version 99, newer than this SkipLab"):
        RunStore(path)
