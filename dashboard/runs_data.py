"""Run data for the pages, read from the store: tables, layer views, ratios, profiles. No Streamlit here."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd

from engine.api import RunStore


def _duration(run: dict[str, Any]) -> float | None:
    start, end = run.get("started_at"), run.get("finished_at")
    if not start:
        return None
    try:
        t0 = _ts(start)
        t1 = _ts(end) if end else datetime.now().timestamp()
    except (TypeError, ValueError):
        return None
    return round(t1 - t0, 1)


def _ts(value: Any) -> float:
    return float(value) if isinstance(value, int | float) else datetime.fromisoformat(str(value)).timestamp()


def when(value: Any) -> str:
    """A stored time (epoch seconds or ISO text) as local 'YYYY-MM-DD HH:MM'; '' when missing or unreadable."""
    if value in (None, ""):
        return ""
    try:
        return datetime.fromtimestamp(_ts(value)).strftime("%Y-%m-%d %H:%M")
    except (TypeError, ValueError, OverflowError, OSError):
        return ""


RUN_COLUMNS = ["id", "name", "tags", "status", "family", "dataset", "steps", "final loss", "val metric", "device",
               "seconds", "created"]


def runs_frame(runs: list[dict[str, Any]], meta: dict[int, dict[str, Any]] | None = None) -> pd.DataFrame:
    """One row per run: what the Runs page lists (``meta``: tags and notes by run id, engine.api.run_meta)."""
    rows = []
    for r in runs:
        summary = r.get("summary") or {}
        config = r.get("config") or {}
        spec = r.get("spec") or {}
        steps = summary.get("steps", config.get("steps"))
        tags = (meta or {}).get(r["id"], {}).get("tags", [])
        rows.append({
            "id": r["id"], "name": r.get("name") or "", "tags": ", ".join(tags),
            "status": r.get("status"), "family": spec.get("family", ""), "dataset": r.get("dataset"),
            "steps": None if steps is None else int(steps),
            "final loss": summary.get("loss"),
            "val metric": summary.get("val_acc", summary.get("val_iou")),
            "device": r.get("device"), "seconds": _duration(r), "created": when(r.get("created_at")),
        })
    frame = pd.DataFrame(rows, columns=RUN_COLUMNS)
    frame["steps"] = frame["steps"].astype("Int64")
    return frame


# The settings a run's config and spec hold that people compare runs by (the rest are in the run's details).
SETTING_KEYS = ("dataset", "steps", "batch_size", "optimizer", "lr", "schedule", "seed", "weight_decay", "grad_clip",
                "init_from", "freeze")


def settings_frame(runs: list[dict[str, Any]], labels: dict[int, str]) -> pd.DataFrame:
    """One row per run: its training settings and architecture knobs (not the spec's name), the columns whose
    values differ between the runs first, so what makes them different is what the eye meets."""
    rows = []
    for r in runs:
        config, spec = r.get("config") or {}, r.get("spec") or {}
        row: dict[str, Any] = {"run": labels.get(r["id"], f"#{r['id']}")}
        row.update({k: config.get(k) for k in SETTING_KEYS})
        row.update({f"spec {k}": _cell(v) for k, v in spec.items() if k not in ("name", "family", "input")})
        row["spec family"], row["spec input"] = spec.get("family"), _cell(spec.get("input"))
        rows.append(row)
    frame = pd.DataFrame(rows)
    if frame.empty:
        return frame
    frame = frame.astype(object).where(frame.notna(), None)
    differs = [c for c in frame.columns[1:] if frame[c].map(repr).nunique() > 1]
    same = [c for c in frame.columns[1:] if c not in differs and frame[c].notna().any()]
    return frame[["run", *differs, *same]].astype(str).replace("None", "")


def _cell(v: Any) -> str:
    if isinstance(v, list) and v and all(isinstance(x, dict) for x in v):
        return "; ".join(", ".join(f"{k} {x}" for k, x in item.items()) for item in v)
    if isinstance(v, list):
        return ",".join(str(x) for x in v) if v else "—"
    return "" if v is None else str(v)


@dataclass
class LayerView:
    names: list[str]
    stages: list[str]
    frozen: list[bool] = field(default_factory=list)  # per layer: frozen for fine-tuning (no gradient by design)

    @property
    def trained(self) -> list[int]:
        """Indices of the layers that train."""
        return [i for i in range(len(self.names)) if not (self.frozen and self.frozen[i])]


def layer_view(store: RunStore, run_id: int) -> LayerView:
    layers = store.get_layers(run_id)
    names = [layer["name"] for layer in layers]
    stages = [layer.get("stage") or layer["name"] for layer in layers]  # the IR's stage, recorded with the run
    return LayerView(names, stages, [bool(layer.get("frozen")) for layer in layers])


def first_last_ratio(store: RunStore, run_id: int, stat: str = "grad_norm") -> tuple[np.ndarray, np.ndarray]:
    """First-layer over last-layer gradient norm per logged step (vanishing: << 1, exploding toward input: >> 1).
    Frozen layers (fine-tuning) are left out: the first layer is the first one that trains."""
    steps, matrix = store.get_layer_matrix(run_id, stat)
    trained = layer_view(store, run_id).trained
    if matrix.size == 0 or not trained:
        return steps, np.zeros(0, dtype=np.float32)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = matrix[trained[0]] / matrix[trained[-1]]
    return steps, ratio.astype(np.float32)


def profile_at(store: RunStore, run_id: int, step: int | None, stat: str = "grad_norm") -> tuple[int, np.ndarray]:
    """The per-layer `stat` at the last logged step at or before `step` (None: latest); before the first logged
    step (0 % of a run: the first log is after step 1), the first logged step."""
    found = store.get_layer_stats_at(run_id, step)
    if found is None and step is not None:
        steps, _ = store.get_layer_matrix(run_id, stat)
        found = store.get_layer_stats_at(run_id, int(steps[0])) if len(steps) else None
    if not found or stat not in found[1]:
        return -1, np.zeros(0, dtype=np.float32)
    return int(found[0]), np.asarray(found[1][stat], dtype=np.float32)


def metric_series(store: RunStore, run_id: int, key: str) -> tuple[np.ndarray, np.ndarray] | None:
    data = store.get_metrics(run_id, [key])
    return data.get(key)


def diff_frame(comparison: Any, level: int) -> pd.DataFrame:
    """An engine.analysis.compare.Comparison as a table: per stage (level 1) or block (2) A, B and the delta."""
    rows = []
    for r in comparison.rows:
        if r.level != level:
            continue
        row: dict[str, Any] = {"group": r.name + (f" (only in {r.only_in.upper()})" if r.only_in else "")}
        for metric in r.a:
            row[f"{metric} A"], row[f"{metric} B"], row[f"Δ {metric}"] = r.a[metric], r.b[metric], r.delta[metric]
        rows.append(row)
    return pd.DataFrame(rows)


def totals_frame(comparison: Any) -> pd.DataFrame:
    return pd.DataFrame([{"total": r.name, "A": r.a["value"], "B": r.b["value"], "Δ": r.delta["value"]}
                         for r in comparison.totals])


def layer_stats_at(store: RunStore, run_id: int, step: int | None) -> tuple[int, dict[str, dict[str, float]]]:
    """Every per-layer statistic at the last logged step at or before `step` (None: latest), by layer name:
    ``(step, {layer: {stat: value}})``; ``(-1, {})`` when the run logged none."""
    found = store.get_layer_stats_at(run_id, step)
    if not found:
        return -1, {}
    names = [layer["name"] for layer in store.get_layers(run_id)]
    at, arrays = found
    out: dict[str, dict[str, float]] = {name: {} for name in names}
    for stat, values in arrays.items():
        if len(values) != len(names):  # a statistic over another set of layers is not drawn on these
            continue
        for name, value in zip(names, values.tolist(), strict=True):
            if np.isfinite(value):
                out[name][stat] = float(value)
    return int(at), out


def logged_steps(store: RunStore, run_id: int, stat: str = "grad_norm") -> list[int]:
    """The steps at which the run logged per-layer `stat`, in order."""
    steps, _ = store.get_layer_matrix(run_id, stat)
    return [int(s) for s in steps]
