"""Cost of a loss landscape: a 2-D 21x21 grid for resnet20 on 512 samples vs one forward pass of the same data,
measured side by side in one process; prints one JSON object.

    PYTHONPATH=. python bench/landscape.py                  # CPU, 2 threads (the CI box)
    PYTHONPATH=. python bench/landscape.py --device cuda    # the GPU

Goal: the grid in at most 2 minutes on 2 CPU cores, and on the GPU when present. The ratio grid / forward says
how close the landscape is to its floor: one forward pass per grid point is 441 (the baseline forward is the
plain one anyone writes, eval mode, default memory layout, batch 256; the landscape runs channels-last, so it can
come in under 441). The Hessian at the centre (20 Lanczos steps on 256 samples) is timed separately.

Times are medians: the baseline forward over ``--reps``, the grid over ``--grid-reps``, alternating with a
baseline forward so both see the same machine. Every figure comes with how busy the machine was meanwhile (the
load average and, on Linux, the CPU the *other* processes used: bench/_machine.py). Ratios measured while others
used more than ``--max-busy`` cores are withheld (null, the measured value under ``*_refused`` and the reason),
as bench/train.py does; the absolute seconds are always reported with their load.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # `python bench/NAME.py` from a fresh clone: the engine is not installed

from bench._machine import Watch, others_now  # noqa: E402
from engine.api import expand  # noqa: E402
from engine.build import build, resolve_device  # noqa: E402
from engine.data import load_dataset  # noqa: E402
from engine.lab.landscape.options import LandscapeOptions  # noqa: E402
from engine.lab.landscape.probe import Batches, prepare_model  # noqa: E402
from engine.lab.landscape.surface import SurfaceDone, compute_surface  # noqa: E402

GOAL_S = 120.0


def uptime() -> str:
    try:
        return subprocess.run(["uptime"], capture_output=True, text=True, timeout=5).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return " ".join(f"{v:.2f}" for v in os.getloadavg()) if hasattr(os, "getloadavg") else "n/a"


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()
    elif device.type == "mps":
        torch.mps.synchronize()


def forward_s(model: torch.nn.Module, x: torch.Tensor, batch: int, device: torch.device, reps: int) -> float:
    """Median seconds of one eval-mode forward pass over all of ``x`` (the baseline)."""
    times = []
    with torch.inference_mode():
        model(x[:batch])  # warm-up (allocator, oneDNN / cuDNN kernel choice)
        for _ in range(reps):
            sync(device)
            t0 = time.perf_counter()
            for i in range(0, len(x), batch):
                model(x[i:i + batch])
            sync(device)
            times.append(time.perf_counter() - t0)
    return statistics.median(times)


def run_surface(model: torch.nn.Module, batches: Batches, opts: LandscapeOptions, device: torch.device
                ) -> tuple[float, dict[str, Any]]:
    sync(device)
    t0 = time.perf_counter()
    done = [ev for ev in compute_surface(model, F.cross_entropy, batches, opts) if isinstance(ev, SurfaceDone)][-1]
    sync(device)
    assert done.result is not None
    return time.perf_counter() - t0, done.result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", default="cpu", help="cpu | cuda | mps | auto")
    ap.add_argument("--threads", type=int, default=2, help="torch intra-op threads on the CPU")
    ap.add_argument("--grid", type=int, default=21)
    ap.add_argument("--samples", type=int, default=512)
    ap.add_argument("--batch-size", type=int, default=256)
    ap.add_argument("--spec", default="resnet20")
    ap.add_argument("--reps", type=int, default=5, help="repetitions of the baseline forward (median)")
    ap.add_argument("--grid-reps", type=int, default=3, help="repetitions of the whole grid (median)")
    ap.add_argument("--max-busy", type=float, default=0.25,
                    help="CPU cores other processes may use while a ratio is measured (default a quarter core)")
    ap.add_argument("--no-hessian", action="store_true", help="skip timing the Hessian at the centre")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    before = others_now()
    load_before = uptime()
    graph = expand(args.spec)
    data = load_dataset("shapes", train_size=args.samples, val_size=16)
    x, y = data.x_train[:args.samples], data.y_train[:args.samples]
    model = build(graph, device, seed=0).eval()
    opts = LandscapeOptions(dim=2, grid=args.grid, samples=args.samples, batch_size=args.batch_size, hessian="none",
                            device=args.device)
    with Watch() as watch:
        base_runs, base_cl_runs, grid_runs = [], [], []
        for _ in range(max(1, args.grid_reps)):  # alternate: each grid next to its own baselines
            plain = build(graph, device, seed=0).eval()
            base_runs.append(forward_s(plain, x.to(device), args.batch_size, device, args.reps))
            batches = Batches.of(x, y, args.batch_size, device)
            prepare_model(model, batches)  # channels-last, as the landscape runs
            base_cl_runs.append(forward_s(model, torch.cat(batches.xs), args.batch_size, device, args.reps))
            grid_s_one, result = run_surface(model, batches, opts, device)
            grid_runs.append(grid_s_one)
    window = watch.window
    base, base_cl, grid_s = (statistics.median(v) for v in (base_runs, base_cl_runs, grid_runs))
    out: dict[str, Any] = {
        "bench": "landscape", "spec": args.spec, "grid": f"{args.grid}x{args.grid}", "points": args.grid ** 2,
        "samples": args.samples, "batch_size": args.batch_size, "device": str(device),
        "device_name": torch.cuda.get_device_name(0) if device.type == "cuda" else platform.processor() or "cpu",
        "threads": torch.get_num_threads(), "cpu_count": os.cpu_count(), "torch": torch.__version__,
        "forward_s": round(base, 4), "forward_channels_last_s": round(base_cl, 4), "grid_s": round(grid_s, 2),
        "grid_s_each": [round(v, 2) for v in grid_runs], "forward_s_each": [round(v, 4) for v in base_runs],
        "ratio_grid_to_forward": round(grid_s / base, 1),
        "ratio_grid_to_channels_last_forward": round(grid_s / base_cl, 1),
        "floor_ratio": args.grid ** 2, "per_point_s": round(grid_s / args.grid ** 2, 4), "goal_s": GOAL_S,
        "goal_met": grid_s <= GOAL_S, "center_loss": result["center_loss"],
        "machine": {**window.as_dict(), "before": before.as_dict(), "max_busy_cores": args.max_busy,
                    "quiet": window.quiet(args.max_busy, args.threads)},
    }
    if not out["machine"]["quiet"]:
        busy = (f"{window.others_cores:.2f} cores" if window.others_cores is not None
                else f"load average {window.loadavg_end[0]:.2f}")
        for key in ("ratio_grid_to_forward", "ratio_grid_to_channels_last_forward"):
            out[f"{key}_refused"] = out.pop(key)
            out[key] = None
        out["refused"] = (f"ratios not reported: other processes used {busy} of {os.cpu_count()} while this ran "
                          f"(limit --max-busy {args.max_busy}); rerun on a quiet machine")
    if not args.no_hessian:
        h_opts = LandscapeOptions(dim=1, grid=3, samples=args.samples, batch_size=args.batch_size, hessian="center",
                                  hessian_samples=256, hessian_iters=20, device=args.device)
        h_total, _ = run_surface(model, batches, h_opts, device)
        h_s = max(0.0, h_total - 3 * base_cl)  # minus the 3 loss points
        out.update({"hessian_center_s": round(h_s, 2), "hessian_forward_equivalents": round(
            h_s / (base_cl * 256 / args.samples), 1)})
    out.update({"uptime_before": load_before, "uptime_after": uptime()})
    print(json.dumps(out))


if __name__ == "__main__":
    main()
