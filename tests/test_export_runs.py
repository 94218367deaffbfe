"""Runs as data: TensorBoard events read back with tensorboard's own reader, CSV and Parquet tables that
hold the stored values, and the spec round trip. Runs are written into a store directly with its API."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from engine.api import load_spec
from engine.arch import loads
from engine.cli import main
from engine.export.runs import RunExportError, export_run_tables
from engine.spec import to_dict
from engine.store import RunStore

LAYERS = ["stem.conv", "stage1.block0.conv1", "stage1.block0.conv2", "stage2.block0.conv1", "head.fc"]
STEPS = 40


@pytest.fixture
def store(tmp_path: Path) -> RunStore:
    return RunStore(tmp_path / "runs.sqlite")


@pytest.fixture
def run_id(store: RunStore) -> int:
    spec = to_dict(load_spec("resnet8"))
    rid = store.create_run("resnet8 demo", spec, {"lr": 0.1, "steps": STEPS}, "shapes", "cpu", status="running")
    store.set_layers(rid, [{"name": n, "op": "conv2d" if "conv" in n else "linear", "stage": n.split(".")[0]}
                           for n in LAYERS])
    rows = [(s, {"loss": 2.0 / (s + 1), "lr": 0.1}) for s in range(STEPS)]
    rows += [(s, {"val_acc": s / STEPS}) for s in range(0, STEPS, 10)]
    store.log_metrics_many(rid, rows)
    store.log_layer_stats_many(rid, [(s, {"grad_norm": _grad(s), "weight_norm": np.arange(5) + 1.0})
                                     for s in range(STEPS)])
    store.log_layer_stats_many(rid, [(s, {"act_std": np.full(5, 0.5)}) for s in range(0, STEPS, 10)])
    store.add_alert(rid, 12, "vanishing", "gradient norm below 1e-6", layer="stem.conv")
    store.set_status(rid, "done")
    return rid


def _grad(step: int) -> np.ndarray:
    return (np.arange(1, 6) * 0.1 / (step + 1)).astype(np.float32)  # deeper layers get larger gradients


def test_tensorboard_round_trip(store: RunStore, run_id: int, tmp_path: Path) -> None:
    pytest.importorskip("tensorboard", reason="the tensorboard extra is not installed (pip install tensorboard)")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    from engine.export.tensorboard_export import export_tensorboard

    logdir = export_tensorboard(store, run_id, tmp_path / "tb")
    assert logdir == tmp_path / "tb" / f"run{run_id}-resnet8_demo"
    acc = EventAccumulator(str(logdir), size_guidance={"scalars": 0, "histograms": 0, "tensors": 0})
    acc.Reload()
    tags = acc.Tags()
    assert {"metrics/loss", "metrics/lr", "metrics/val_acc"} <= set(tags["scalars"])
    loss = acc.Scalars("metrics/loss")
    assert [e.step for e in loss] == list(range(STEPS))
    assert np.allclose([e.value for e in loss], [2.0 / (s + 1) for s in range(STEPS)])
    assert [e.step for e in acc.Scalars("metrics/val_acc")] == [0, 10, 20, 30]
    for i, name in enumerate(LAYERS):  # the per-layer gradient-norm series
        series = acc.Scalars(f"grad_norm/{name}")
        assert [e.step for e in series] == list(range(STEPS))
        assert np.allclose([e.value for e in series], [_grad(s)[i] for s in range(STEPS)], rtol=1e-6)
    assert not any(t.startswith("weight_norm/") for t in tags["scalars"])  # only gradient norms per layer
    assert {"layers/grad_norm", "layers/weight_norm", "layers/act_std"} <= set(tags["histograms"])
    hist = acc.Histograms("layers/grad_norm")
    assert len(hist) == STEPS and hist[0].histogram_value.num == len(LAYERS)
    assert hist[3].histogram_value.max == pytest.approx(float(_grad(3).max()), rel=1e-6)
    assert {"run/spec/text_summary", "run/config/text_summary", "run/alerts/text_summary"} <= set(tags["tensors"])


def test_tensorboard_subsamples_long_layer_series(store: RunStore, run_id: int, tmp_path: Path) -> None:
    pytest.importorskip("tensorboard", reason="the tensorboard extra is not installed (pip install tensorboard)")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    from engine.export.tensorboard_export import export_tensorboard

    logdir = export_tensorboard(store, run_id, tmp_path / "tb", layer_stats=("all",), max_points=5)
    acc = EventAccumulator(str(logdir), size_guidance={"scalars": 0})
    acc.Reload()
    steps = [e.step for e in acc.Scalars("weight_norm/head.fc")]
    assert len(steps) == 5 and steps[0] == 0 and steps[-1] == STEPS - 1
    assert len(acc.Scalars("metrics/loss")) == STEPS  # metrics in full


def test_tensorboard_missing_extra(store: RunStore, run_id: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                   capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setitem(sys.modules, "tensorboard", None)
    code = main(["export-run", str(run_id), "--tensorboard", str(tmp_path / "tb"), "--store", str(store.path)])
    assert code == 2
    err = capsys.readouterr().err
    assert "pip install tensorboard" in err and "Traceback" not in err


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_tables_hold_the_stored_values(store: RunStore, run_id: int, tmp_path: Path, fmt: str) -> None:
    if fmt == "parquet":
        pytest.importorskip("pyarrow", reason="Parquet needs pyarrow (pip install pyarrow)")
    export_run_tables(store, run_id, tmp_path / "out", (fmt,))
    read = pd.read_csv if fmt == "csv" else pd.read_parquet
    metrics = read(tmp_path / "out" / f"metrics.{fmt}")
    assert list(metrics.columns) == ["step", "loss", "lr", "val_acc"]
    assert metrics["step"].tolist() == list(range(STEPS))
    assert np.allclose(metrics["loss"], [2.0 / (s + 1) for s in range(STEPS)])
    assert metrics["val_acc"].notna().sum() == 4 and metrics.loc[20, "val_acc"] == pytest.approx(0.5)

    stats = read(tmp_path / "out" / f"layer_stats.{fmt}")
    assert list(stats.columns) == ["step", "idx", "layer", "op", "stage", "block", "act_std", "grad_norm",
                                   "weight_norm"]
    assert len(stats) == STEPS * len(LAYERS)
    row = stats[(stats.step == 7) & (stats.layer == "stage1.block0.conv2")].iloc[0]
    assert row["grad_norm"] == pytest.approx(float(_grad(7)[2]), rel=1e-6) and row["stage"] == "stage1"
    assert stats["act_std"].notna().sum() == 4 * len(LAYERS)  # logged every 10 steps only: NaN elsewhere

    alerts = read(tmp_path / "out" / f"alerts.{fmt}")
    assert alerts["kind"].tolist() == ["vanishing"] and alerts["layer"].tolist() == ["stem.conv"]
    assert json.loads((tmp_path / "out" / "run.json").read_text())["config"] == {"lr": 0.1, "steps": STEPS}
    spec = load_spec("resnet8")
    assert loads((tmp_path / "out" / "spec.yaml").read_text(), "yaml") == spec
    assert loads((tmp_path / "out" / "spec.json").read_text(), "json") == spec


def test_empty_run_and_unknown_run(store: RunStore, tmp_path: Path) -> None:
    rid = store.create_run("empty", {"family": "resnet"}, {}, "shapes", "cpu")
    written = export_run_tables(store, rid, tmp_path / "e", ("csv",))
    assert (tmp_path / "e" / "metrics.csv").read_text().strip() == "step"
    assert tmp_path / "e" / "spec.yaml" in written
    with pytest.raises(RunExportError, match=f"no run 999 in {store.path}"):
        export_run_tables(store, 999, tmp_path / "x")


def test_cli_export_run(store: RunStore, run_id: int, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["export-run", str(run_id), "--csv", str(tmp_path / "c"), "--parquet", str(tmp_path / "p"),
                 "--store", str(store.path), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert str(tmp_path / "c" / "metrics.csv") in out["csv"]
    assert str(tmp_path / "p" / "metrics.parquet") in out["parquet"]
    assert main(["export-run", "999", "--csv", str(tmp_path / "c"), "--store", str(store.path)]) == 2
    assert "no run 999" in capsys.readouterr().err
    assert main(["export-run", str(run_id), "--store", str(store.path)]) == 2  # nothing asked for
    assert main(["export-run", "1", "--csv", str(tmp_path), "--store", str(tmp_path / "nope.sqlite")]) == 2
    assert "no run store at" in capsys.readouterr().err


def test_run_archive_for_download(store: RunStore, run_id: int) -> None:
    import io
    import zipfile

    from engine.export import run_archive

    archive = zipfile.ZipFile(io.BytesIO(run_archive(store, run_id)))
    names = set(archive.namelist())
    assert {f"run{run_id}/metrics.csv", f"run{run_id}/layer_stats.csv", f"run{run_id}/spec.yaml"} <= names
    metrics = pd.read_csv(archive.open(f"run{run_id}/metrics.csv"))
    assert len(metrics) == STEPS
