"""Landscapes of stored runs: the CLI contract (`landscape`, `shatter`), bad input, the store table, the init line,
the child-process job the dashboard uses."""

from __future__ import annotations

import json
import sqlite3
import time
from pathlib import Path

import pytest
import torch

from engine.arch import expand
from engine.build import build
from engine.cli import main
from engine.store import SCHEMA_VERSION, RunStore
from engine.store.landscapes import LandscapeStore
from engine.train.record import create_run, run_and_record
from tests.train_helpers import one_torch_thread  # noqa: F401 - autouse fixture

SPEC = {"family": "resnet", "name": "tiny", "input": [3, 16, 16], "num_classes": 10,
        "stages": [{"blocks": 1, "width": 4}, {"blocks": 1, "width": 8, "stride": 2}]}
CONFIG = {"dataset": "shapes", "dataset_options": {"size": 16, "train_size": 64, "val_size": 16}, "steps": 3,
          "batch_size": 16, "device": "cpu", "val_every": 0, "act_every": 0, "seed": 2}
FAST = ["--samples", "32", "--batch-size", "16", "--hessian", "none"]


def _train(store: RunStore, **config) -> int:
    run_id = create_run(store, SPEC, {**CONFIG, **config}, status="running")
    for _ in run_and_record(store, run_id):
        pass
    return run_id


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    path = tmp_path_factory.mktemp("landscape") / "runs.sqlite"
    store = RunStore(path)
    return path, _train(store), _train(store, save_weights=False)


def _json(capsys, argv: list[str]) -> dict:
    code = main(argv)
    out = capsys.readouterr()
    assert code == 0, out.err
    return json.loads(out.out)


def test_landscape_json_contract_2d(trained, capsys):
    path, run_id, _ = trained
    r = _json(capsys, ["landscape", str(run_id), "--dim", "2", "--grid", "5", "--span", "0.5", "--seed", "3",
                       *FAST, "--store", str(path), "--json"])
    assert r["dim"] == 2 and len(r["alphas"]) == len(r["betas"]) == 5
    assert len(r["loss"]) == 5 and all(len(row) == 5 for row in r["loss"])
    assert r["alphas"][0] == -0.5 and r["alphas"][2] == 0.0
    assert r["loss"][2][2] == pytest.approx(r["center_loss"], rel=1e-6)
    assert r["seed"] == 3 and r["samples"] == 32 and "nonconvex_fraction" in r["measures"]
    stored = LandscapeStore(path).latest(run_id, dim=2, seed=3)
    assert stored is not None and stored["status"] == "done" and stored["result"]["loss"] == r["loss"]


def test_landscape_json_contract_1d_and_the_init_line(trained, capsys):
    path, run_id, _ = trained
    r = _json(capsys, ["landscape", str(run_id), "--dim", "1", "--grid", "7", *FAST, "--store", str(path), "--json"])
    assert r["dim"] == 1 and "betas" not in r and len(r["loss"]) == 7
    assert r["loss"][3] == pytest.approx(r["center_loss"], rel=1e-6)
    line = _json(capsys, ["landscape", str(run_id), "--dim", "1", "--direction", "init", "--grid", "5", *FAST,
                          "--store", str(path), "--json", "--no-save"])
    assert line["direction"] == "init" and line["init_alpha"] == -1.0 and line["job_id"] is None
    assert line["init_source"] == "saved at the start of training"
    assert line["bn"] == "recalibrated at every point"


def test_saved_initial_weights_are_the_seeded_build(trained):
    """The trainer saves the weights before the first update; they are what engine.build makes from the seed."""
    path, run_id, _ = trained
    summary = RunStore(path).get_run(run_id)["summary"]
    saved = torch.load(summary["init_weights_path"], weights_only=True)
    rebuilt = build(expand(SPEC), "cpu", seed=CONFIG["seed"]).state_dict()
    assert saved.keys() == rebuilt.keys()
    for k in saved:
        assert torch.equal(saved[k], rebuilt[k]), k


def test_landscape_text_output_and_list(trained, capsys):
    path, run_id, _ = trained
    assert main(["landscape", str(run_id), "--grid", "3", *FAST, "--store", str(path)]) == 0
    out = capsys.readouterr()
    assert "Around the trained weights of" in out.out and "stored as landscape #" in out.out
    assert "loss 9/9" in out.err or "%" in out.err
    assert main(["landscape", str(run_id), "--list", "--store", str(path)]) == 0
    assert "dim 2 random grid 3" in capsys.readouterr().out


@pytest.mark.parametrize(("argv", "message"), [
    (["999"], "no run #999"),
    (["{no_weights}"], "has no saved weights"),
    (["{run}", "--grid", "4"], "grid must be odd"),
    (["{run}", "--grid", "0"], "must be a positive integer, got '0'"),
    (["{run}", "--grid", "1"], "greater than or equal to 3"),
    (["{run}", "--samples", "0"], "must be a positive integer"),
    (["{run}", "--direction", "init", "--dim", "2"], "use dim 1"),
    (["{run}", "--hessian", "grid", "--dim", "1"], "use dim 2"),
    (["{run}", "--span", "-1"], "positive number"),
])
def test_landscape_bad_input_exits_2(trained, capsys, argv, message):
    path, run_id, no_weights = trained
    args = [a.format(run=run_id, no_weights=no_weights) for a in argv]
    try:
        code = main(["landscape", *args, "--store", str(path)])
    except SystemExit as exc:  # argparse's own checks exit from inside parsing (still 2, one paragraph)
        code = exc.code
    assert code == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_landscape_without_a_store_exits_2(tmp_path, capsys):
    assert main(["landscape", "1", "--store", str(tmp_path / "none.sqlite")]) == 2
    assert "no run store at" in capsys.readouterr().err
    assert not (tmp_path / "none.sqlite").exists()


def test_missing_weights_file_is_bad_input(tmp_path, capsys):
    store = RunStore(tmp_path / "runs.sqlite")
    run_id = _train(store)
    Path(store.get_run(run_id)["summary"]["weights_path"]).unlink()
    assert main(["landscape", str(run_id), "--store", str(store.path)]) == 2
    assert "is missing" in capsys.readouterr().err


def test_shatter_cli(tmp_path, capsys):
    r = _json(capsys, ["shatter", "resnet8", "--points", "32", "--inits", "1", "--max-lag", "4", "--device", "cpu",
                       "--store", str(tmp_path / "s.sqlite"), "--json"])
    assert [n["label"] for n in r["nets"]] == ["resnet8"] and len(r["nets"][0]["autocorr"]) == 5
    assert LandscapeStore(tmp_path / "s.sqlite").list(kind="shatter")[0]["status"] == "done"
    assert main(["shatter", "transformer_tiny", "--no-save"]) == 2
    assert "token ids" in capsys.readouterr().err
    assert main(["shatter", "no_such_net", "--no-save"]) == 2


def test_landscapes_table_keeps_the_schema_version(tmp_path):
    path = tmp_path / "runs.sqlite"
    RunStore(path)
    ls = LandscapeStore(path)
    job = ls.create("surface", {"dim": 2}, 1)
    ls.set_progress(job, 0.5, "loss 10/20")
    assert ls.get(job)["phase"] == "loss 10/20"
    with sqlite3.connect(path) as c:
        assert c.execute("SELECT MAX(version) FROM schema_version").fetchone()[0] == SCHEMA_VERSION


def test_dashboard_job_runs_in_a_child_process(trained):
    from engine.api import cancel_landscape, landscape_job, launch_landscape

    path, run_id, _ = trained
    job_id = launch_landscape(run_id, {"dim": 1, "grid": 5, "samples": 16, "hessian": "none", "device": "cpu"},
                              store=str(path))
    deadline = time.monotonic() + 180
    while (rec := landscape_job(job_id, str(path)))["status"] in ("queued", "running"):
        assert time.monotonic() < deadline, rec
        time.sleep(0.3)
    assert rec["status"] == "done", rec.get("error")
    assert rec["pid"] is not None and len(rec["result"]["loss"]) == 5
    assert cancel_landscape(job_id, str(path)) == "done"  # nothing to cancel once done


def test_a_run_without_its_initial_file_rebuilds_it_from_the_seed_unless_it_started_from_a_checkpoint(tmp_path,
                                                                                                     capsys):
    store = RunStore(tmp_path / "runs.sqlite")
    run_id = _train(store)
    Path(store.get_run(run_id)["summary"]["init_weights_path"]).unlink()  # as an older run, before landscapes
    line = _json(capsys, ["landscape", str(run_id), "--dim", "1", "--direction", "init", "--grid", "3", *FAST,
                          "--store", str(store.path), "--json", "--no-save"])
    assert line["init_source"].startswith("rebuilt from the run's spec and seed")
    tuned = _train(store, init_from=f"run:{run_id}")
    Path(store.get_run(tuned)["summary"]["init_weights_path"]).unlink()
    code = main(["landscape", str(tuned), "--dim", "1", "--direction", "init", *FAST, "--store", str(store.path)])
    err = capsys.readouterr().err
    assert code == 2 and "started from a checkpoint" in err and "Traceback" not in err
