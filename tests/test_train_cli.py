"""`python -m engine train` and `python -m engine runs`."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from engine.cli import main
from engine.store import RunStore
from tests.train_helpers import one_torch_thread  # noqa: F401  (autouse fixture)

TINY = ["--dataset", "shapes", "--data", "train_size=64", "--data", "val_size=16", "--batch-size", "16",
        "--device", "cpu"]
ROOT = Path(__file__).resolve().parents[1]


def test_train_json_summary_then_runs(tmp_path, capsys) -> None:
    store = str(tmp_path / "runs.sqlite")
    code = main(["train", "resnet8", *TINY, "--steps", "4", "--lr", "0.05", "--optimizer", "adamw",
                 "--schedule", "constant", "--seed", "1", "--store", store, "--json", "--set", "log_every=2"])
    out = capsys.readouterr()
    assert code == 0, out.err
    summary = json.loads(out.out)
    assert summary["status"] == "done" and summary["steps"] == 4
    assert Path(summary["weights_path"]).is_file()
    assert "step 4/4" in out.err and "it/s" in out.err  # the progress line
    run = RunStore(store).get_run(summary["run_id"])
    assert run["config"]["optimizer"] == "adamw" and run["config"]["lr"] == 0.05 and run["config"]["log_every"] == 2
    assert run["spec"]["family"] == "resnet"

    assert main(["runs", "--store", store, "--json"]) == 0
    runs = json.loads(capsys.readouterr().out)
    assert [r["id"] for r in runs] == [summary["run_id"]] and runs[0]["status"] == "done"
    assert main(["runs", "--store", store]) == 0
    table = capsys.readouterr().out
    assert "resnet8" in table and "done" in table

    assert main(["runs", "--store", store, "--export", str(summary["run_id"]), "--out", str(tmp_path / "csv")]) == 0
    capsys.readouterr()
    assert (tmp_path / "csv" / "layer_stats.csv").read_text().count("\n") > 10


def test_bad_input_exits_2_without_recording_a_run(tmp_path, capsys) -> None:
    store = str(tmp_path / "runs.sqlite")
    assert main(["train", "resnet8", "--dataset", "digits", "--store", store]) == 2
    err = capsys.readouterr().err
    assert "[1, 8, 8]" in err and "Traceback" not in err
    assert main(["train", "resnet8", "--dataset", "shapes", "--set", "optimiser=sgd", "--store", store]) == 2
    assert "config.optimiser" in capsys.readouterr().err
    assert RunStore(store).list_runs() == []


def test_diverged_run_exit_code(tmp_path, capsys) -> None:
    code = main(["train", "resnet8", *TINY, "--steps", "20", "--lr", "1e4", "--store", str(tmp_path / "r.sqlite"),
                 "--quiet"])
    out = capsys.readouterr().out
    assert code == 3 and "diverged" in out


def test_ctrl_c_marks_the_run_cancelled_and_keeps_its_data(tmp_path) -> None:
    store = tmp_path / "runs.sqlite"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}  # see one_torch_thread
    proc = subprocess.Popen([sys.executable, "-m", "engine", "train", "resnet8", *TINY, "--steps", "100000",
                             "--set", "log_every=1", "--store", str(store), "--json"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, text=True)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            runs = RunStore(store).list_runs() if store.exists() else []
            if runs and (RunStore(store).latest_step(runs[0]["id"]) or 0) >= 2:
                break
            time.sleep(0.1)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
    finally:
        proc.kill()
    assert proc.returncode == 130, err
    summary = json.loads(out)
    assert summary["status"] == "cancelled" and summary["steps"] >= 2
    run = RunStore(store).get_run(summary["run_id"])
    assert run["status"] == "cancelled"
    assert RunStore(store).latest_step(run["id"]) >= 2
