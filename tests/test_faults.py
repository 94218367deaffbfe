"""Runs survive faults: kill -9 of a worker, a dashboard killed and restarted, a full disk, a read-only or
unwritable store, a diverging run. Nothing is lost that was flushed; every fault ends in a clear status
or message; the dashboard keeps serving."""

from __future__ import annotations

import contextlib
import errno
import io
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import torch
from streamlit.testing.v1 import AppTest

import engine.store.db
from dashboard.text import plain
from engine.cli import main
from engine.store import RunStore, StoreError, pid_alive
from engine.train.events import Alert
from engine.train.record import create_run, run_and_record
from engine.train.runner import get_runner

ROOT = Path(__file__).resolve().parents[1]
SPAWN_S = 120  # a fresh interpreter imports torch; generous for a loaded CI machine
LONG = {"dataset": "shapes", "dataset_options": {"train_size": 64, "val_size": 16}, "steps": 100_000,
        "batch_size": 16, "device": "cpu", "log_every": 1, "act_every": 0, "val_every": 0}
SHORT = {**LONG, "steps": 4}


def wait_for(cond, timeout: float = SPAWN_S, what: str = "condition") -> None:  # noqa: ANN001
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


def loss_steps(store: RunStore, run_id: int) -> list[int]:
    return store.get_metrics(run_id, ["loss"])["loss"][0].tolist()


DASHBOARD = textwrap.dedent("""
    import sys, time
    sys.path.insert(0, {root!r})
    from engine.train.runner import get_runner
    if __name__ == "__main__":  # spawned workers import this module again
        runner = get_runner({store!r}, max_concurrent=1)
        print(runner.submit("resnet8", {long!r}), runner.submit("resnet8", {short!r}), flush=True)
        time.sleep(600)
""")


def test_dashboard_killed_runs_keep_going_restart_reattaches_kill_9_interrupts(tmp_path: Path) -> None:
    """The stand-in dashboard (the engine calls the Train page makes) is killed with its whole process group,
    as Ctrl-C or a closed terminal would; its run keeps training; a restarted runner re-attaches and drains
    the queue; kill -9 of the worker then marks it interrupted with every flushed step kept."""
    store_path = tmp_path / "runs.sqlite"
    script = tmp_path / "dashboard.py"
    script.write_text(DASHBOARD.format(root=str(ROOT), store=str(store_path), long=LONG, short=SHORT))
    dash = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True, start_new_session=True)
    try:
        a, b = (int(x) for x in dash.stdout.readline().split())
        store = RunStore(store_path)
        wait_for(lambda: len(loss_steps(store, a)) >= 2, what="run a logging")
        os.killpg(dash.pid, signal.SIGINT)  # Ctrl-C reaches the terminal's process group
        os.killpg(dash.pid, signal.SIGKILL)
        dash.wait(10)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(dash.pid, signal.SIGKILL)
    worker = store.get_run(a)["pid"]
    step_at_kill = len(loss_steps(store, a))
    wait_for(lambda: len(loss_steps(store, a)) > step_at_kill + 2, timeout=30, what="run a still training")
    assert pid_alive(worker) and store.get_run(b)["status"] == "queued"

    restarted = get_runner(store_path, max_concurrent=1)  # what a restarted dashboard calls: re-attaches
    assert restarted.status(a) == "running" and restarted.status(b) == "queued"  # the limit still holds
    os.kill(worker, signal.SIGKILL)
    wait_for(lambda: restarted.status(a) == "interrupted", timeout=15, what="run a marked interrupted")
    steps = loss_steps(store, a)
    assert steps == list(range(1, len(steps) + 1)) and len(steps) > step_at_kill  # every flushed step kept
    assert "ended without reporting a result" in store.get_run(a)["error"]
    wait_for(lambda: restarted.status(b) == "done", what="queued run b started by the restarted runner")
    assert loss_steps(store, b) == [1, 2, 3, 4]


SMALL = {**SHORT, "dataset_options": {"train_size": 32, "val_size": 8}, "batch_size": 8}


@pytest.fixture
def store(store_path: Path) -> RunStore:
    torch.set_num_threads(1)
    return RunStore(store_path)


def test_a_full_disk_mid_run_fails_it_with_a_clear_message_and_keeps_what_was_written(store: RunStore) -> None:
    run_id = create_run(store, "resnet8", {**SMALL, "steps": 400}, status="running")
    conn = store._conn()  # noqa: SLF001 - the run records through this thread's connection
    pages = conn.execute("PRAGMA page_count").fetchone()[0]
    conn.execute(f"PRAGMA max_page_count = {pages + 4}")  # SQLite's own "disk is full" (SQLITE_FULL)
    with pytest.raises(StoreError, match=r"the disk holding the run store .*runs.sqlite is full .*free some space"):
        for _ in run_and_record(store, run_id):
            pass
    conn.execute("PRAGMA max_page_count = 1073741823")
    run = store.get_run(run_id)
    assert run["status"] == "failed" and "is full" in run["error"]
    steps = loss_steps(store, run_id)
    assert steps and steps == list(range(1, len(steps) + 1))


def test_no_space_for_the_weights_fails_the_run_with_the_reason(store: RunStore, monkeypatch) -> None:  # noqa: ANN001
    real_save, calls = torch.save, []

    def full(*args, **kwargs) -> None:  # noqa: ANN002, ANN003
        calls.append(1)
        if len(calls) == 1:  # the initial weights (kept for landscapes) still fit; the final ones do not
            return real_save(*args, **kwargs)
        raise OSError(errno.ENOSPC, "No space left on device")

    run_id = create_run(store, "resnet8", {**SMALL, "steps": 3}, status="running")
    monkeypatch.setattr(torch, "save", full)
    with pytest.raises(OSError, match="No space left"):
        list(run_and_record(store, run_id))
    run = store.get_run(run_id)
    assert run["status"] == "failed" and "No space left on device" in run["error"]
    assert loss_steps(store, run_id) == [1, 2, 3]


def test_lr_1e9_diverges_naming_the_layer(store: RunStore) -> None:
    run_id = create_run(store, "resnet8", {**SMALL, "steps": 50, "lr": 1e9}, status="running")
    alerts = [ev for ev in run_and_record(store, run_id) if isinstance(ev, Alert) and ev.kind == "diverged"]
    run = store.get_run(run_id)
    assert run["status"] == "diverged" and alerts and alerts[0].layer
    assert alerts[0].layer in run["error"]
    assert store.get_alerts(run_id)[-1]["layer"] == alerts[0].layer


# ---- read-only, full and unwritable stores -----------------------------------------------------------------------


def inject(monkeypatch: pytest.MonkeyPatch, path: Path, mode: str) -> None:
    """Open `path` read-only (SQLite's mode=ro: 'attempt to write a readonly database') or capped at its
    size (SQLITE_FULL: 'database or disk is full'), as a read-only mount or a full disk would. Root ignores
    file permissions, so this is how CI running as root meets these errors."""
    real = sqlite3.connect

    def connect(database, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003, ANN202
        if Path(database) != path:
            return real(database, *args, **kwargs)
        if mode == "ro":
            return real(f"file:{path}?mode=ro", *args, uri=True, **kwargs)
        conn = real(database, *args, **kwargs)
        conn.execute(f"PRAGMA max_page_count = {conn.execute('PRAGMA page_count').fetchone()[0] + 1}")
        return conn

    monkeypatch.setattr(engine.store.db.sqlite3, "connect", connect)


def run_cli(argv: list[str]) -> tuple[int, str]:
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        code = main(argv)
    return code, err.getvalue()


def test_cli_on_a_read_only_or_full_store_exits_2_naming_the_file(store_path: Path, monkeypatch) -> None:  # noqa: ANN001
    torch.set_num_threads(1)
    RunStore(store_path).create_run("old", {"family": "resnet"}, {}, "shapes", "cpu", "done")
    train = ["train", "resnet8", "--store", str(store_path), "--device", "cpu", "--data", "train_size=16",
             "--data", "val_size=8", "--batch-size", "8"]
    with monkeypatch.context() as m:
        inject(m, store_path, "ro")
        code, err = run_cli([*train, "--steps", "1"])
        assert code == 2 and str(store_path) in err and "writable" in err and "Traceback" not in err
        assert run_cli(["runs", "--store", str(store_path)])[0] == 0  # reading a read-only store still works
    with monkeypatch.context() as m:
        inject(m, store_path, "full")
        code, err = run_cli([*train, "--steps", "200", "--log-every", "1"])
        assert code == 2 and "is full" in err and str(store_path) in err


@pytest.mark.skipif(os.name != "posix" or os.getuid() == 0, reason="root ignores file permissions")
def test_cli_on_a_chmod_read_only_store(tmp_path: Path) -> None:
    path = tmp_path / "ro" / "runs.sqlite"
    RunStore(path).create_run("old", {"family": "resnet"}, {}, "shapes", "cpu", "done")
    path.parent.chmod(0o500)
    path.chmod(0o400)
    try:
        code, err = run_cli(["train", "resnet8", "--steps", "1", "--store", str(path)])
        assert code == 2 and str(path) in err
    finally:
        path.parent.chmod(0o700)


PAGES = ["build", "train", "runs", "compare"]


def open_pages() -> dict[str, AppTest]:
    out = {}
    for page in PAGES:
        at = AppTest.from_file("../dashboard/app.py", default_timeout=60).run()
        if page != "build":
            at.switch_page(f"../pages/{page}.py").run()
        out[page] = at
    return out


def test_dashboard_keeps_serving_when_the_store_path_is_unwritable(tmp_path: Path, monkeypatch) -> None:  # noqa: ANN001
    (tmp_path / "a_file").write_text("not a directory")
    monkeypatch.setenv("SKIPLAB_STORE", str(tmp_path / "a_file" / "runs.sqlite"))
    pages = open_pages()
    for page, at in pages.items():
        assert not at.exception, (page, at.exception)
    assert any(m.value == "269,722" for m in pages["build"].metric)  # resnet20, the default
    for page in ("train", "runs", "compare"):
        text = " ".join(plain(e.value) for e in pages[page].error)
        assert "The run store is not available" in text and "is a file, not a directory" in text, page


def test_dashboard_keeps_serving_a_read_only_store(store_path: Path, monkeypatch) -> None:  # noqa: ANN001
    store = RunStore(store_path)
    rid = store.create_run("old run", {"family": "resnet"}, {}, "shapes", "cpu", "done")
    store.log_metrics(rid, 1, {"loss": 2.0})
    inject(monkeypatch, store_path, "ro")
    pages = open_pages()
    for page, at in pages.items():
        assert not at.exception, (page, at.exception)
    train = pages["train"]
    train.button(key="train_start").click().run()
    assert not train.exception
    errors = " ".join(plain(e.value) for e in train.error)
    assert "Could not start the run" in errors and str(store_path) in errors and "writable" in errors
    assert not pages["runs"].error  # viewing runs needs no writes


def test_reaping_on_a_read_only_store_waits_instead_of_failing(store_path: Path, monkeypatch) -> None:  # noqa: ANN001
    store = RunStore(store_path)
    rid = store.create_run("dead", {"family": "resnet"}, {}, "shapes", "cpu", "running")
    store.set_pid(rid, 2**22 + 12345)  # no such process
    with monkeypatch.context() as m:
        inject(m, store_path, "ro")
        ro = RunStore(store_path)
        assert ro.reap_dead_runs() == [] and ro.get_run(rid)["status"] == "running"
    assert RunStore(store_path).reap_dead_runs() == [rid]
