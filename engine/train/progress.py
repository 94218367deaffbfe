"""Text rendering of training events for terminals: a progress line (steps, loss, it/s, ETA) and a final
summary. Pure functions returning strings; the CLI decides where they go.
"""

from __future__ import annotations

import math
import time

from engine.train.events import Alert, Done, Event, Metrics, Started


def fmt_duration(seconds: float) -> str:
    if not math.isfinite(seconds) or seconds < 0:
        return "?"
    s = int(round(seconds))
    h, rem = divmod(s, 3600)
    m, s = divmod(rem, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


class ProgressLine:
    """Keeps the latest numbers and renders ``step 120/400 [######....] 30% loss 1.23 acc 0.56 12.3 it/s ETA 0:22``."""

    def __init__(self, width: int = 20) -> None:
        self.width = width
        self.total = 0
        self.step = 0
        self.values: dict[str, float] = {}
        self.t0 = time.perf_counter()

    def update(self, ev: Event) -> None:
        if isinstance(ev, Started):
            self.total = ev.steps
            self.t0 = time.perf_counter()
        elif isinstance(ev, Metrics):
            self.step = max(self.step, ev.step)
            self.values.update(ev.values)

    def render(self) -> str:
        total = max(self.total, 1)
        frac = min(1.0, self.step / total)
        filled = int(round(frac * self.width))
        elapsed = time.perf_counter() - self.t0
        rate = self.step / elapsed if elapsed > 0 and self.step else 0.0
        eta = (total - self.step) / rate if rate > 0 else float("nan")
        parts = [f"step {self.step}/{self.total}", f"[{'#' * filled}{'.' * (self.width - filled)}]",
                 f"{frac * 100:3.0f}%"]
        for key in ("loss", "acc", "iou", "val_acc", "val_iou"):
            if key in self.values and math.isfinite(self.values[key]):
                parts.append(f"{key} {self.values[key]:.4g}")
        parts.append(f"{rate:.1f} it/s")
        parts.append(f"ETA {fmt_duration(eta)}")
        return " ".join(parts)


def alert_line(ev: Alert) -> str:
    return f"[{ev.kind}] {ev.message}"


def summary_text(run_id: int, done: Done, store_path: str) -> str:
    lines = [f"run {run_id}: {done.status} after {done.step} steps in {fmt_duration(done.wall_s)}"]
    if done.error:
        lines.append(f"  {done.error}")
    keys = [k for k in ("loss", "acc", "iou", "val_loss", "val_acc", "val_iou", "best_val_acc", "best_val_iou", "it_s")
            if k in done.summary]
    if keys:
        lines.append("  " + "  ".join(f"{k} {done.summary[k]:.4g}" for k in keys))
    if done.weights_path:
        lines.append(f"  weights: {done.weights_path}")
    lines.append(f"  store: {store_path} (see `python -m engine runs`)")
    return "\n".join(lines)
