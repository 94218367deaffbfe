"""A finished (or running) sweep's results per variant: the seeds of a variant aggregated."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from engine.store import RunStore


def _mean_std(values: list[float]) -> tuple[float, float]:
    v = [x for x in values if math.isfinite(x)]
    if not v:
        return math.nan, math.nan
    return float(np.mean(v)), float(np.std(v, ddof=1)) if len(v) > 1 else 0.0


def variant_rows(store: RunStore, sweep: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per variant, in entry order: runs, seeds, statuses, final loss and validation metric
    (mean and sample standard deviation over the seeds whose run recorded one)."""
    groups: dict[str, list[dict[str, Any]]] = {}
    for m in sweep["runs"]:
        groups.setdefault(m["variant"], []).append(m)
    rows = []
    for variant, members in groups.items():
        losses, vals, statuses = [], [], []
        metric = "val_acc"
        for m in members:
            run = store.get_run(m["run_id"]) or {}
            summary = run.get("summary") or {}
            statuses.append(run.get("status", "?"))
            losses.append(float(summary.get("loss", math.nan)))
            if "val_iou" in summary:
                metric = "val_iou"
            vals.append(float(summary.get("val_acc", summary.get("val_iou", math.nan))))
        loss_m, loss_s = _mean_std(losses)
        val_m, val_s = _mean_std(vals)
        rows.append({"variant": variant, "runs": len(members), "seeds": sorted({m["seed"] for m in members}),
                     "statuses": {s: statuses.count(s) for s in sorted(set(statuses))},
                     "loss_mean": loss_m, "loss_std": loss_s, "metric": metric, "val_mean": val_m, "val_std": val_s})
    return rows


def format_rows(rows: list[dict[str, Any]]) -> str:
    def pm(m: float, s: float) -> str:
        return "-" if not math.isfinite(m) else f"{m:.4g} ± {s:.2g}"

    header = ("variant", "runs", "status", "final loss", "val metric")
    table = [header] + [(r["variant"], str(r["runs"]), ", ".join(f"{v} {k}" for k, v in r["statuses"].items()),
                         pm(r["loss_mean"], r["loss_std"]), pm(r["val_mean"], r["val_std"])) for r in rows]
    widths = [max(len(row[i]) for row in table) for i in range(len(header))]
    return "\n".join("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
                     for row in table)
