"""Each lesson's pair on its default settings, in this process, one run after the other: CPU and wall seconds per
lesson, the measured numbers and the verdicts the Lessons page would show.

    python bench/lessons.py                        # every lesson, default steps, seed 0
    python bench/lessons.py vanishing_mlp --seed 1
    python bench/lessons.py --steps 20             # a quick look (numbers at init are the same at any length)
    python bench/lessons.py --seed 1 --store /tmp/lessons.sqlite   # keep the runs: SKIPLAB_STORE=... opens them

The goal (docs/lessons.md): a pair at its default steps takes about a minute of CPU. The page trains both runs at
once in two worker processes, so its wall time is about half the pair's CPU seconds on two idle cores. CPU seconds
are the trainer's own (`summary.cpu_s`), which a loaded machine does not inflate. Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def _num(x: float) -> float | None:
    return x if math.isfinite(x) else None


def bench_lesson(name: str, steps: int | None, seed: int, store_path: str) -> dict:
    from engine.lab.lessons import get_lesson, read
    from engine.store import RunStore
    from engine.train.record import create_run, run_and_record

    lesson = get_lesson(name)
    settings = lesson.settings({"seed": seed, **({"steps": steps} if steps else {})})  # the page's device: auto
    store = RunStore(store_path)
    ids, cpu = {}, 0.0
    t0 = time.perf_counter()
    for run in lesson.plan(settings):
        run_id = create_run(store, run.spec, run.config, status="queued", name=run.name)
        for _ in run_and_record(store, run_id):
            pass
        ids[run.label] = run_id
        cpu += float((store.get_run(run_id).get("summary") or {}).get("cpu_s", 0.0))
    wall = time.perf_counter() - t0
    result = read(lesson, store, ids)
    return {
        "lesson": name, "steps": settings.steps, "seed": seed, "cpu_s": round(cpu, 1), "wall_s": round(wall, 1),
        "variants": {v.label: {"ratio_init": _num(v.init.ratio) if v.init else None,
                               "ratio_end": _num(v.end.ratio) if v.end else None,
                               "loss_end": _num(v.loss_end), "val_acc": _num(v.val_acc), "status": v.status}
                     for v in result.variants},
        "verdicts": [{"expectation": v.expectation.text, "outcome": v.outcome, "measured": v.measured}
                     for v in result.verdicts],
        "conclusion": result.conclusion,
    }


def main(argv: list[str] | None = None) -> int:
    from engine.lab.lessons import lesson_names

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("lessons", nargs="*", choices=[[], *lesson_names()], help="default: all")
    ap.add_argument("--steps", type=int, default=None, help="default: each lesson's own")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1, help="torch threads (default 1: CPU seconds ~ wall)")
    ap.add_argument("--store", default=None, help="keep the runs in this store (default: a temporary one per lesson), "
                    "e.g. to open them on the Lessons page with SKIPLAB_STORE")
    args = ap.parse_args(argv)
    import torch

    torch.set_num_threads(args.threads)
    load = os.getloadavg()
    out = {"threads": args.threads, "load_before": [round(x, 2) for x in load], "lessons": []}
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.lessons or lesson_names():
            store = args.store or str(Path(tmp) / f"{name}.sqlite")
            out["lessons"].append(bench_lesson(name, args.steps, args.seed, store))
            print(json.dumps(out["lessons"][-1]), file=sys.stderr, flush=True)
    out["load_after"] = [round(x, 2) for x in os.getloadavg()]
    print(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
