"""Sweeps: the file format and its overrides, a 2x2x2 sweep through the job runner, its Compare page view
and the torchrun commands for a cluster."""

from __future__ import annotations

import json
import shlex
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from streamlit.testing.v1 import AppTest

from dashboard.sweeps import aggregate
from engine.cli import main
from engine.core.errors import SpecError
from engine.lab.sweeps import expand, get_sweep, list_sweeps, parse_sweep
from engine.store import RunStore

TINY_CONFIG = {"dataset": "shapes", "steps": 5, "batch_size": 16, "device": "cpu", "val_every": 0, "act_every": 0,
               "log_every": 1, "dataset_options": {"train_size": 64, "val_size": 16}}
GRID = {"stages[*].blocks": [1, 2], "shortcut": ["A", "none"], "seed": [0, 1]}


def test_grid_and_overrides() -> None:
    sweep = parse_sweep({"base": "resnet8", "config": {"steps": 7}, "grid": GRID,
                         "variants": [{"stages[0].width": 8}, {"lr": 0.05, "dataset_options.train_size": 99}]})
    entries = expand(sweep)
    assert len(entries) == 16
    first = entries[0]
    assert [s["blocks"] for s in first.spec["stages"]] == [1, 1, 1] and first.spec["stages"][0]["width"] == 8
    assert first.spec["shortcut"] == "A" and first.config["seed"] == 0 and first.config["steps"] == 7
    deep = entries[4]
    assert [s["blocks"] for s in deep.spec["stages"]] == [2, 2, 2]
    last = entries[-1]
    assert last.config["lr"] == 0.05 and last.config["dataset_options"] == {"train_size": 99}
    assert last.config["seed"] == 1 and last.spec["shortcut"] == "none" and last.spec["stages"][0]["width"] == 16
    # the seed is not part of the variant: seeds of one variant are its repeats
    assert first.variant == "stages[0].width=8, stages[*].blocks=1, shortcut=A" == entries[1].variant
    assert len({e.variant for e in entries}) == 8


def test_base_can_be_swept_and_a_list_alone_works() -> None:
    entries = expand(parse_sweep({"base": "resnet8", "variants": [{}, {"base": "resnet20", "config.seed": 3}]}))
    assert [e.spec["name"] for e in entries] == ["resnet8", "resnet20"]
    assert entries[0].variant == "base" and entries[1].variant == "base=resnet20" and entries[1].seed == 3


@pytest.mark.parametrize(("data", "match"), [
    ({"base": "resnet8", "grid": {"depth": [1]}}, r"depth.*neither a field of the resnet spec"),
    ({"base": "resnet8", "grid": {"stages[5].blocks": [1]}}, r"index 5 is out of range: the list has 3"),
    ({"base": "resnet8", "grid": {"shortcut": ["A", "Z"]}}, r"entry 1 \(shortcut=Z\): shortcut"),
    ({"base": "resnet8", "grid": {"lr": [-1]}}, r"entry 0 \(lr=-1\): config.lr"),
    ({"base": "resnet8", "grid": {"seed": []}}, r"grid.seed: a grid key needs at least one value"),
    ({"base": "resnet8", "grid": {"seed": [0]}, "variants": [{"seed": 1}]}, r"set both in grid and in variants"),
    ({"base": "resnet8", "grids": {}}, r"unknown sweep key 'grids'"),
])
def test_bad_sweeps_are_clear(data: dict, match: str) -> None:
    with pytest.raises(SpecError, match=match):
        expand(parse_sweep(data))


def test_aggregate_aligns_steps_and_keeps_short_runs() -> None:
    x, mean, std = aggregate([(np.array([1, 2, 3]), np.array([1.0, 2.0, 3.0])),
                              (np.array([1, 2]), np.array([3.0, 4.0]))])
    assert x.tolist() == [1, 2, 3] and mean.tolist() == [2.0, 3.0, 3.0]
    assert std[0] == pytest.approx(np.sqrt(2)) and std[2] == 0.0  # one run left at step 3: no band


@pytest.mark.slow
def test_two_by_two_by_two_sweep_runs_and_compare_shows_bands(tmp_path, capsys, monkeypatch) -> None:
    torch.set_num_threads(1)
    store_path = tmp_path / "runs.sqlite"
    monkeypatch.setenv("SKIPLAB_STORE", str(store_path))
    path = tmp_path / "sweep.yaml"
    path.write_text(yaml.safe_dump({"name": "tiny", "base": "resnet8", "config": TINY_CONFIG, "grid": GRID,
                                    "max_concurrent": 4}, sort_keys=False))
    code = main(["sweep", str(path), "--json"])
    out = capsys.readouterr()
    assert code == 0, out.err
    result = json.loads(out.out)
    assert len(result["runs"]) == 8 and {r["status"] for r in result["runs"]} == {"done"}
    assert "8/8 runs finished (8 done)" in out.err  # the overall progress line
    assert "[7] run" in out.err  # per-run lines
    assert [v["runs"] for v in result["variants"]] == [2, 2, 2, 2]

    store = RunStore(store_path)
    [listed] = list_sweeps(store)
    assert listed["name"] == "tiny" and listed["runs"] == 8 and listed["entries"] == 8
    sweep = get_sweep(store, listed["id"])
    assert [m["seed"] for m in sweep["runs"]] == [0, 1] * 4
    for m in sweep["runs"]:
        run = store.get_run(m["run_id"])
        assert run["status"] == "done" and run["name"].startswith("tiny · ") and store.latest_step(m["run_id"]) == 5

    at = AppTest.from_file("../dashboard/app.py", default_timeout=60).run()
    at.switch_page("../pages/compare.py").run()
    at.radio(key="compare_mode").set_value("Sweep").run()
    assert not at.exception
    charts = [json.loads(c.proto.spec) for c in at.get("plotly_chart")]
    loss = next(c for c in charts if c["layout"]["title"]["text"].startswith("Training loss"))
    lines = [t["name"] for t in loss["data"] if str(t.get("mode", "")).startswith("lines")]  # markers: lone points
    assert lines == [v["variant"] for v in result["variants"]]
    assert sum(t.get("fill") == "toself" for t in loss["data"]) == 4  # one band per variant (2 seeds each)
    assert any(c["layout"]["title"]["text"].startswith("Gradient norm by relative depth") for c in charts)
    [frame] = at.dataframe
    table = frame.value
    assert table["runs"].tolist() == [2, 2, 2, 2]


def test_print_commands_records_the_sweep_and_train_attaches(tmp_path, capsys) -> None:
    store = str(tmp_path / "runs.sqlite")
    path = tmp_path / "sweep.yaml"
    path.write_text(yaml.safe_dump({"name": "cluster", "base": "resnet8", "config": TINY_CONFIG,
                                    "grid": {"seed": [0, 1]}}))
    assert main(["sweep", str(path), "--print-commands", "--nproc-per-node", "4", "--store", store]) == 0
    lines = [line for line in capsys.readouterr().out.splitlines() if not line.startswith("#")]
    assert len(lines) == 2
    argv = shlex.split(lines[1])
    assert argv[:5] == ["torchrun", "--standalone", "--nproc_per_node=4", "-m", "engine"]
    assert argv[argv.index("--sweep") + 1].endswith(":1")
    assert Path(argv[argv.index("train") + 1]).is_file()

    # what one job runs (here in this process, as a single-process run) joins the sweep as entry 1
    train_args = argv[argv.index("train"):]
    assert main([*train_args, "--steps", "2", "--quiet"]) == 0
    sweep = get_sweep(RunStore(store), list_sweeps(RunStore(store))[0]["id"])
    assert [(m["index"], m["seed"], m["status"]) for m in sweep["runs"]] == [(1, 1, "done")]
    capsys.readouterr()
    bad = [*train_args[:-2], "--sweep", "99:0", "--store", store, "--steps", "2"]
    assert main(bad) == 2 and "no sweep 99" in capsys.readouterr().err


def test_deleting_a_run_removes_its_sweep_membership(tmp_path):
    from engine.store.sweeps import attach_run, create_sweep

    store = RunStore(tmp_path / "runs.sqlite")
    sweep = create_sweep(store, "s", {"base": "resnet8"}, [{"index": 0, "overrides": {}, "variant": "", "seed": 0}])
    run_id = store.create_run("resnet8", {"family": "resnet"}, {"steps": 1}, "shapes", "cpu")
    attach_run(store, sweep, 0, run_id)
    store.set_status(run_id, "done")  # a queued run is refused: cancel it first (tests/test_runaway.py)
    assert store.delete_run(run_id)
    assert store._query("SELECT COUNT(*) FROM sweep_runs WHERE run_id = ?", (run_id,))[0][0] == 0
    assert get_sweep(store, sweep)["runs"] == []
