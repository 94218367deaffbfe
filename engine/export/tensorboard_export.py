"""Export a run to TensorBoard event files (optional extra: ``pip install tensorboard``).

Written with ``torch.utils.tensorboard.SummaryWriter`` into ``DIR/run<id>-<name>`` so several runs
share one ``tensorboard --logdir DIR``:

- every metric as a scalar (``metrics/loss``, ``metrics/val_acc`` ...);
- the per-layer gradient norm of every layer as a scalar series (``grad_norm/stage1.block0.conv1``),
  and the other layer statistics too when asked (``layer_stats=("all",)``);
- per step, a histogram of each layer statistic over the layers (``layers/grad_norm``): the
  distribution view shows the spread of gradient magnitudes across depth as training goes on;
- the spec (YAML), the config and the alerts as text.

TensorBoard keeps at most 1000 points of a scalar series by default, so long per-layer series are
evenly subsampled to `max_points` steps (the metrics are written in full).
"""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path

import numpy as np

from engine.export.extras import require
from engine.export.runs import get_run, layer_names, spec_texts
from engine.store import RunStore

log = logging.getLogger(__name__)

GRADIENT_STATS = ("grad_norm",)


def run_dirname(run: dict) -> str:
    name = re.sub(r"[^A-Za-z0-9_.-]+", "_", str(run.get("name") or "")).strip("_")
    return f"run{run['id']}" + (f"-{name}" if name else "")


def _subsample(steps: np.ndarray, max_points: int) -> np.ndarray:
    """Indices of at most `max_points` evenly spaced steps, always keeping the first and the last."""
    if len(steps) <= max_points:
        return np.arange(len(steps))
    return np.unique(np.linspace(0, len(steps) - 1, max_points).round().astype(np.int64))


def export_tensorboard(store: RunStore, run_id: int, directory: str | Path, *,
                       layer_stats: tuple[str, ...] = GRADIENT_STATS, max_points: int = 1000) -> Path:
    """Write the run's event file under `directory`; returns the run's log directory."""
    require("tensorboard", "TensorBoard export")
    from torch.utils.tensorboard import SummaryWriter

    run = get_run(store, run_id)
    logdir = Path(directory) / run_dirname(run)
    start = float(run.get("started_at") or run.get("created_at") or 0.0)
    end = float(run.get("finished_at") or run.get("heartbeat_at") or start)
    last = max(store.latest_step(run_id) or 0, 1)

    def wall(step: int) -> float:  # the store keeps no per-step time: spread the steps over the run's span
        return start + (end - start) * min(step, last) / last

    writer = SummaryWriter(log_dir=str(logdir))
    try:
        for key, (steps, values) in store.get_metrics(run_id).items():
            for step, value in zip(steps.tolist(), values.tolist(), strict=True):
                writer.add_scalar(f"metrics/{key}", value, step, walltime=wall(step))
        wanted = store.layer_stat_names(run_id) if "all" in layer_stats else [
            s for s in store.layer_stat_names(run_id) if s in layer_stats]
        for stat in store.layer_stat_names(run_id):
            steps, matrix = store.get_layer_matrix(run_id, stat)  # [layers, T]
            names = layer_names(store, run_id, matrix.shape[0])
            for t in _subsample(steps, max_points).tolist():
                step = int(steps[t])
                column = matrix[:, t]
                if stat in wanted:
                    for name, value in zip(names, column.tolist(), strict=True):
                        writer.add_scalar(f"{stat}/{name}", value, step, walltime=wall(step))
                finite = column[np.isfinite(column)]
                if finite.size:
                    writer.add_histogram(f"layers/{stat}", finite, step, walltime=wall(step))
        _texts(writer, store, run, wall(0))
    finally:
        writer.close()
    log.info("run %d: TensorBoard events in %s", run_id, logdir)
    return logdir


def _texts(writer: object, store: RunStore, run: dict, walltime: float) -> None:
    add_text = writer.add_text  # type: ignore[attr-defined]
    # Markdown: indent by four spaces to show YAML and JSON as code blocks.
    spec = spec_texts(run)["spec.yaml"]
    add_text("run/spec", "    " + spec.replace("\n", "\n    "), 0, walltime=walltime)
    config = json.dumps({"dataset": run.get("dataset"), "device": run.get("device"), "status": run.get("status"),
                         **(run.get("config") or {})}, indent=2, default=str)
    add_text("run/config", "    " + config.replace("\n", "\n    "), 0, walltime=walltime)
    for alert in store.get_alerts(int(run["id"])):
        where = f" at {alert['layer']}" if alert.get("layer") else ""
        add_text("run/alerts", f"**{alert['kind']}**{where}: {alert['message']}", int(alert.get("step") or 0),
                 walltime=walltime)
