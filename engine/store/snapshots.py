"""Low-rate snapshots beside a run's statistics: per-layer value distributions and a few validation predictions.

- ``layer_hists``: one row per (run, statistic, step) holding a float32 ``[layers, bins]`` array of fractions over
  fixed log10 bins of |value| (``lo``, ``hi``, ``bins`` stored with the row). The trainer writes about 20 per run
  (`engine.train.config.TrainConfig.hist_every`): 200 layers x 32 bins x 3 statistics x 20 snapshots is 1.5 MB.
- ``run_samples``: one row per (run, kind, step) holding a uint8 array (``shape`` as JSON): the inputs and ground
  truth of a few validation images once (step 0), the predicted masks at validations (about 16 per run).

Both tables are created by the first write, like the sweep and experiment tables: an older store opens unchanged,
and a reader of a store without them sees no snapshots. `RunStore.delete_run` removes their rows with the run.
"""

from __future__ import annotations

import json
from collections.abc import Mapping

import numpy as np

from engine.store.db import F32
from engine.store.runs import RunStore

HIST_SCHEMA = ("CREATE TABLE IF NOT EXISTS layer_hists (run_id INTEGER NOT NULL, step INTEGER NOT NULL, "
               "stat TEXT NOT NULL, lo REAL NOT NULL, hi REAL NOT NULL, bins INTEGER NOT NULL, data BLOB NOT NULL, "
               "PRIMARY KEY (run_id, stat, step)) WITHOUT ROWID")
SAMPLE_SCHEMA = ("CREATE TABLE IF NOT EXISTS run_samples (run_id INTEGER NOT NULL, step INTEGER NOT NULL, "
                 "kind TEXT NOT NULL, shape_json TEXT NOT NULL, data BLOB NOT NULL, "
                 "PRIMARY KEY (run_id, kind, step)) WITHOUT ROWID")


def _has(store: RunStore, table: str) -> bool:
    return bool(store._query("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (table,)))


def log_histograms(store: RunStore, run_id: int, steps: list[int], stats: Mapping[str, np.ndarray], lo: float,
                   hi: float) -> None:
    """``stats[name]``: float32 ``[len(steps), layers, bins]`` fractions over log10 |value| bins from lo to hi."""
    rows = []
    for stat, block in stats.items():
        arr = np.asarray(block, dtype=F32)
        if arr.ndim != 3 or arr.shape[0] != len(steps):
            raise ValueError(f"histogram {stat!r} has shape {list(arr.shape)}; expected [steps, layers, bins] "
                             f"with {len(steps)} steps")
        rows += [(run_id, int(s), str(stat), float(lo), float(hi), int(arr.shape[2]), arr[i].tobytes())
                 for i, s in enumerate(steps)]
    with store._tx() as c:
        c.execute(HIST_SCHEMA)
        c.executemany("INSERT OR REPLACE INTO layer_hists (run_id, step, stat, lo, hi, bins, data) "
                      "VALUES (?, ?, ?, ?, ?, ?, ?)", rows)
        store._touch(c, run_id)


def histogram_stats(store: RunStore, run_id: int) -> list[str]:
    if not _has(store, "layer_hists"):
        return []
    return [r[0] for r in store._query("SELECT DISTINCT stat FROM layer_hists WHERE run_id = ? ORDER BY stat",
                                       (run_id,))]


def get_histograms(store: RunStore, run_id: int, stat: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(steps [T], edges [bins + 1] of log10 |value|, fractions float32 [T, layers, bins])``; empty arrays when
    the run has none."""
    empty = (np.zeros(0, np.int64), np.zeros(0, np.float32), np.zeros((0, 0, 0), np.float32))
    if not _has(store, "layer_hists"):
        return empty
    rows = store._query("SELECT step, lo, hi, bins, data FROM layer_hists WHERE run_id = ? AND stat = ? "
                        "ORDER BY step", (run_id, stat))
    if not rows:
        return empty
    _, lo, hi, bins, _ = rows[-1]
    rows = [r for r in rows if (r[1], r[2], r[3]) == (lo, hi, bins)]  # one binning per chart
    steps = np.array([r[0] for r in rows], dtype=np.int64)
    data = np.stack([np.frombuffer(r[4], dtype=F32).reshape(-1, bins) for r in rows]).astype(np.float32)
    return steps, np.linspace(lo, hi, bins + 1, dtype=np.float32), data


def log_samples(store: RunStore, run_id: int, step: int, samples: Mapping[str, np.ndarray]) -> None:
    """``samples[kind]``: a uint8 array (``input`` [k, H, W, C], ``truth`` / ``pred`` [k, H, W])."""
    rows = []
    for kind, arr in samples.items():
        a = np.ascontiguousarray(arr, dtype=np.uint8)
        rows.append((run_id, int(step), str(kind), json.dumps(list(a.shape)), a.tobytes()))
    with store._tx() as c:
        c.execute(SAMPLE_SCHEMA)
        c.executemany("INSERT OR REPLACE INTO run_samples (run_id, step, kind, shape_json, data) "
                      "VALUES (?, ?, ?, ?, ?)", rows)
        store._touch(c, run_id)


def get_samples(store: RunStore, run_id: int, kind: str) -> list[tuple[int, np.ndarray]]:
    """``[(step, uint8 array)]`` of one kind, by step."""
    if not _has(store, "run_samples"):
        return []
    rows = store._query("SELECT step, shape_json, data FROM run_samples WHERE run_id = ? AND kind = ? ORDER BY step",
                        (run_id, kind))
    return [(int(s), np.frombuffer(d, dtype=np.uint8).reshape(json.loads(shape))) for s, shape, d in rows]
