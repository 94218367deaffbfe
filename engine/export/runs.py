"""A run as data: its metrics and per-layer statistics as tables (CSV or Parquet), its spec as YAML and
JSON, and its record (config, status, summary) as JSON. Read from the run store, written to a directory.

Tables are tidy (one row per observation) so they load straight into pandas, R or a spreadsheet:

- ``metrics``: one row per step, one column per metric (``loss``, ``val_acc``, ``lr`` ...).
- ``layer_stats``: one row per (step, layer), one column per statistic (``grad_norm`` ...), with the
  layer's index, op, stage and block so statistics group per block and stage.
- ``layers`` (the layer list) and ``alerts`` (health-check alerts).
"""

from __future__ import annotations

import io
import json
import logging
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

from engine.core.errors import SkipLabError
from engine.export.extras import require
from engine.store import RunStore, StoreError

log = logging.getLogger(__name__)

FORMATS = ("csv", "parquet")


class RunExportError(SkipLabError, ValueError):
    """A run that cannot be exported (no such run, an unreadable store)."""


@dataclass
class RunTables:
    run: dict[str, Any]
    metrics: pd.DataFrame
    layer_stats: pd.DataFrame
    layers: pd.DataFrame
    alerts: pd.DataFrame


def get_run(store: RunStore, run_id: int) -> dict[str, Any]:
    """The run record, or a RunExportError naming the store and the runs it has."""
    try:
        run = store.get_run(run_id)
        if run is None:
            ids = [str(r["id"]) for r in store.list_runs()[:10]]
            raise RunExportError(f"no run {run_id} in {store.path}; runs there: {', '.join(ids) or 'none'} "
                                 "(list them with `python -m engine runs`, or pass --store PATH)")
    except StoreError as exc:
        raise RunExportError(str(exc)) from None
    return run


def layer_names(store: RunStore, run_id: int, count: int) -> list[str]:
    """The run's layer names, or ``layer0 ...`` when no layer list matches the statistics."""
    names = [layer["name"] for layer in store.get_layers(run_id)]
    return names if len(names) == count else [f"layer{i}" for i in range(count)]


def run_tables(store: RunStore, run_id: int) -> RunTables:
    run = get_run(store, run_id)
    metrics = store.get_metrics(run_id)
    frame = pd.DataFrame({"step": pd.Series(dtype="int64")})
    for key, (steps, values) in metrics.items():
        frame = frame.merge(pd.DataFrame({"step": steps, key: values}), on="step", how="outer")
    frame = frame.sort_values("step", kind="stable").reset_index(drop=True)

    layers = pd.DataFrame(store.get_layers(run_id))
    stats = _layer_stats(store, run_id, layers)
    alerts = pd.DataFrame(store.get_alerts(run_id), columns=["id", "step", "kind", "layer", "message", "created_at"])
    return RunTables(run, frame, stats, layers, alerts)


def _layer_stats(store: RunStore, run_id: int, layers: pd.DataFrame) -> pd.DataFrame:
    frame: pd.DataFrame | None = None
    for stat in store.layer_stat_names(run_id):
        steps, matrix = store.get_layer_matrix(run_id, stat)  # [layers, T]
        count, t = matrix.shape
        part = pd.DataFrame({"step": np.repeat(steps, count), "idx": np.tile(np.arange(count, dtype=np.int64), t),
                             stat: matrix.T.reshape(-1)})  # step-major: every layer at step 0, then step 1 ...
        # A statistic logged at other steps than the others lines up on (step, layer), NaN elsewhere.
        frame = part if frame is None else frame.merge(part, on=["step", "idx"], how="outer")
    if frame is None:
        return pd.DataFrame(columns=["step", "idx", "layer"])
    frame = frame.sort_values(["step", "idx"], kind="stable").reset_index(drop=True)
    idx = frame["idx"].to_numpy()
    names = layer_names(store, run_id, int(idx.max()) + 1)
    frame.insert(2, "layer", np.asarray(names, dtype=object)[idx])
    for pos, col in enumerate(("op", "stage", "block"), start=3):
        if col in layers and len(layers) == len(names):
            frame.insert(pos, col, layers[col].to_numpy()[idx])
    return frame


def spec_texts(run: dict[str, Any]) -> dict[str, str]:
    """The run's spec as ``spec.yaml`` and ``spec.json`` text (canonical when the spec still validates)."""
    spec = run.get("spec") or {}
    try:
        from engine.arch import parse
        from engine.spec import dumps

        parsed = parse(spec)
        return {"spec.yaml": dumps(parsed, "yaml"), "spec.json": dumps(parsed, "json")}
    except (SkipLabError, ValueError) as exc:  # an older or foreign spec: keep it as recorded
        log.warning("run %s: spec does not validate (%s); exporting it as recorded", run.get("id"), exc)
        return {"spec.yaml": yaml.safe_dump(spec, sort_keys=False), "spec.json": json.dumps(spec, indent=2) + "\n"}


def export_run_tables(store: RunStore, run_id: int, directory: str | Path,
                      formats: tuple[str, ...] = ("csv",)) -> list[Path]:
    """Write the run's tables in each format, plus ``run.json``, ``spec.yaml`` and ``spec.json``."""
    bad = [f for f in formats if f not in FORMATS]
    if bad:
        raise RunExportError(f"unknown table format {bad[0]!r}; use one of {', '.join(FORMATS)}")
    if "parquet" in formats:
        require("pyarrow", "Parquet export")
    tables = run_tables(store, run_id)
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    for fmt in formats:
        for name in ("metrics", "layer_stats", "layers", "alerts"):
            frame: pd.DataFrame = getattr(tables, name)
            path = out / f"{name}.{fmt}"
            if fmt == "csv":
                frame.to_csv(path, index=False)
            else:
                frame.to_parquet(path, index=False)
            written.append(path)
    record = {k: v for k, v in tables.run.items() if k != "spec"}
    (out / "run.json").write_text(json.dumps(record, indent=2, default=str) + "\n")
    written.append(out / "run.json")
    for filename, text in spec_texts(tables.run).items():
        (out / filename).write_text(text)
        written.append(out / filename)
    log.info("run %d: wrote %d files to %s", run_id, len(written), out)
    return written


def run_archive(store: RunStore, run_id: int, fmt: str = "csv") -> bytes:
    """The files of `export_run_tables` as one zip, in memory (for a download button)."""
    with tempfile.TemporaryDirectory() as tmp:
        paths = export_run_tables(store, run_id, tmp, (fmt,))
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
            for path in paths:
                zf.write(path, arcname=f"run{run_id}/{path.name}")
    return buf.getvalue()
