"""Run-store size and read speed at the design scale. ``python bench/store.py``; prints JSON.

Goals: 200 layers x 10,000 steps of per-layer statistics under 50 MB, and ``get_layer_matrix``
(one statistic, every step) fast enough to redraw a heat map on each dashboard poll (< 100 ms).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # `python bench/NAME.py` from a fresh clone: the engine is not installed

import numpy as np  # noqa: E402

from engine.store import LAYER_STATS, RunStore  # noqa: E402

GRAD_STATS = ("grad_norm", "grad_mean_abs", "grad_max_abs", "update_ratio")


def measure(stats: tuple[str, ...], n_layers: int, n_steps: int, flush: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bench.sqlite"
        store = RunStore(path)
        run = store.create_run("bench", {}, {}, "none", "cpu", status="running")
        store.set_layers(run, [{"name": f"layer{i}"} for i in range(n_layers)])
        rng = np.random.default_rng(0)
        t0 = time.perf_counter()
        for start in range(0, n_steps, flush):
            block = rng.random((len(stats), flush, n_layers), dtype=np.float32)
            store.log_layer_stats_many(
                run, [(start + t, {s: block[k, t] for k, s in enumerate(stats)}) for t in range(flush)])
        write_s = time.perf_counter() - t0
        store.close()
        size = sum(p.stat().st_size for p in Path(tmp).glob("bench.sqlite*"))
        store = RunStore(path)
        t0 = time.perf_counter()
        steps, matrix = store.get_layer_matrix(run, stats[0])
        read_ms = (time.perf_counter() - t0) * 1000
        assert matrix.shape == (n_layers, n_steps)
        t0 = time.perf_counter()
        store.get_layer_matrix(run, stats[0], since_step=n_steps - 20)
        poll_ms = (time.perf_counter() - t0) * 1000
        t0 = time.perf_counter()
        store.get_layer_stats_at(run, n_steps // 2)
        at_ms = (time.perf_counter() - t0) * 1000
        store.close()
    return {"stats": len(stats), "size_mb": round(size / 2**20, 2), "raw_mb": round(
        len(stats) * n_layers * n_steps * 4 / 2**20, 2), "write_s": round(write_s, 2),
        "read_matrix_ms": round(read_ms, 1), "poll_last_20_ms": round(poll_ms, 2),
        "stats_at_ms": round(at_ms, 2)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--layers", type=int, default=200)
    ap.add_argument("--steps", type=int, default=10_000)
    ap.add_argument("--flush", type=int, default=100, help="steps per write transaction")
    args = ap.parse_args()
    out = {"layers": args.layers, "steps": args.steps,
           "grad_stats": measure(GRAD_STATS, args.layers, args.steps, args.flush),
           "all_stats": measure(LAYER_STATS, args.layers, args.steps, args.flush)}
    print(json.dumps(out))


if __name__ == "__main__":
    main()
