"""Each experiment on its default settings: wall time, CPU time, and what it showed (claims held or not).

    python bench/experiments.py                      # all five, in this process, one after another
    python bench/experiments.py lesion --jobs 2      # one, through the job runner with 2 worker processes
    python bench/experiments.py --threads 1          # single-threaded: CPU seconds ~ wall on an idle core

The goal (issue 7): each finishes in under 10 minutes on a 2-core CPU. CPU seconds are reported beside
wall seconds because a shared machine inflates wall time; with one thread, CPU time is what the run would
take on one idle core. Prints one JSON object; the store is a temporary file unless --store is given.
"""

from __future__ import annotations

import argparse
import json
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


def main() -> None:
    import torch

    from engine.lab.experiments import create_experiment, execute, experiment_names

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("names", nargs="*", help="experiments (default: all)")
    p.add_argument("--jobs", type=int, default=0, help="0: train in this process; N: job runner, N workers")
    p.add_argument("--threads", type=int, default=0, help="torch threads in this process (0: torch's default)")
    p.add_argument("--store", help="run store (default: a temporary file)")
    args = p.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    store = args.store or str(Path(tempfile.mkdtemp(prefix="skiplab-bench-")) / "runs.sqlite")
    out = {"store": store, "threads": torch.get_num_threads(), "jobs": args.jobs, "experiments": {}}
    for name in args.names or experiment_names():
        exp_id = create_experiment(name, {}, store)
        t0, c0 = time.perf_counter(), cpu_seconds()
        results = execute(exp_id, store, jobs=args.jobs) or {}
        out["experiments"][name] = {
            "id": exp_id, "wall_s": round(time.perf_counter() - t0, 1),
            # job-runner workers run in their own session, not as children this process waits for: their CPU
            # time is not in RUSAGE_CHILDREN, so only the in-process mode has a CPU figure
            "cpu_s": round(cpu_seconds() - c0, 1) if not args.jobs else None,
            "claims": [{"claim": c["claim"], "held": c["held"], "evidence": c["evidence"]}
                       for c in results.get("claims", [])],
            "conclusion": results.get("conclusion"),
        }
        print(json.dumps({name: out["experiments"][name]}), file=sys.stderr)
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
