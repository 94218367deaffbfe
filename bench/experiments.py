"""Each experiment on its default settings: wall time, CPU time, the machine's load, and the verdicts.

    python bench/experiments.py                      # all five, in this process, one after another
    python bench/experiments.py lesion --jobs 2      # one, through the job runner with 2 worker processes
    python bench/experiments.py --threads 1          # single-threaded: CPU seconds ~ wall on an idle core

The goal (issue 17): each default finishes in at most 3 minutes on a 2-core CPU. Each experiment gets a fresh
store (no run reused from another experiment: its standalone time) unless --store is given. CPU seconds are
reported beside wall seconds, and the load average before and after, because a shared machine inflates wall
time. Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def cpu_seconds() -> float:
    own, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def runs_cpu(store: str, results: dict) -> float:
    from engine.store import RunStore

    rs = RunStore(store)
    rows = [rs.get_run(r["run_id"]) for r in results.get("runs", [])]
    return sum(float(((row or {}).get("summary") or {}).get("cpu_s", 0.0)) for row in rows)


def load_average() -> list[float]:
    try:
        return [float(x) for x in Path("/proc/loadavg").read_text().split()[:3]]
    except OSError:
        return []


def main() -> None:
    import torch

    from engine.lab.experiments import create_experiment, execute, experiment_names

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("names", nargs="*", help="experiments (default: all)")
    p.add_argument("--jobs", type=int, default=0, help="0: train in this process; N: job runner, N workers")
    p.add_argument("--threads", type=int, default=0, help="torch threads in this process (0: torch's default)")
    p.add_argument("--store", help="one run store for all (default: a fresh temporary file per experiment)")
    args = p.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    out = {"threads": torch.get_num_threads(), "jobs": args.jobs, "cpus": os.cpu_count(), "experiments": {}}
    for name in args.names or experiment_names():
        store = args.store or str(Path(tempfile.mkdtemp(prefix="skiplab-bench-")) / "runs.sqlite")
        exp_id = create_experiment(name, {}, store)
        load_before = load_average()
        t0, c0 = time.perf_counter(), cpu_seconds()
        results = execute(exp_id, store, jobs=args.jobs) or {}
        out["experiments"][name] = {
            "id": exp_id, "wall_s": round(time.perf_counter() - t0, 1),
            # job-runner workers run in their own session, not as children this process waits for: their CPU
            # time is not in RUSAGE_CHILDREN, so only the in-process mode has a CPU figure
            "cpu_s": round(cpu_seconds() - c0, 1) if not args.jobs else None,
            "load_before": load_before, "load_after": load_average(), "store": store,
            # the runs' own training CPU seconds (each worker's process time): what the machine's load does not
            # inflate; wall on two idle cores is about half their sum plus start-up and the analysis
            "runs_cpu_s": round(runs_cpu(store, results), 1),
            "runs": len(results.get("runs", [])),
            "verdicts": {c["key"]: c["verdict"] for c in results.get("claims", [])},
            "claims": [{"key": c["key"], "claim": c["claim"], "verdict": c["verdict"], "check": c.get("check"),
                        "evidence": c["evidence"]} for c in results.get("claims", [])],
            "conclusion": results.get("conclusion"),
        }
        print(json.dumps({name: out["experiments"][name]}), file=sys.stderr)
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
