"""`runs`: the runs in the store, newest first (a run whose process died is marked `interrupted` first).
`--cancel ID` stops a queued or running run; `--export ID --out DIR` writes its metrics and per-layer
statistics as CSV.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
from typing import Any

from engine.cli.commands.summary import positive_int
from engine.core.text import printable
from engine.store import STATUSES, RunStore

ORDER = 45
_JSON_KEYS = ("id", "name", "status", "dataset", "device", "created_at", "started_at", "finished_at", "error",
              "pid", "host", "summary", "config", "spec")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("runs", help="list recorded training runs", description=__doc__)
    p.add_argument("--store", metavar="PATH", help="run store (default $SKIPLAB_STORE or ~/.skiplab/runs.sqlite)")
    p.add_argument("--status", choices=STATUSES, help="only runs with this status")
    p.add_argument("--limit", type=positive_int, help="at most N runs")
    p.add_argument("--json", action="store_true", help="print the runs as JSON")
    p.add_argument("--cancel", type=positive_int, metavar="ID", help="cancel a queued or running run")
    p.add_argument("--export", type=positive_int, metavar="ID", help="write a run's data as CSV (with --out)")
    p.add_argument("--out", metavar="DIR", help="directory for --export (default ./run-ID)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    store = RunStore(args.store)
    if args.cancel is not None:
        from engine.train.runner import JobRunner

        status = JobRunner(store.path).cancel(args.cancel)
        print(json.dumps({"run_id": args.cancel, "status": status}) if args.json else f"run {args.cancel}: {status}")
        return 0
    if args.export is not None:
        if store.get_run(args.export) is None:
            raise ValueError(f"no run {args.export} in {store.path}; list runs with `python -m engine runs`")
        paths = store.export_csv(args.export, args.out or f"run-{args.export}")
        print(json.dumps([str(p) for p in paths]) if args.json else "\n".join(str(p) for p in paths))
        return 0
    store.reap_dead_runs()
    runs = store.list_runs(args.status)[: args.limit]
    if args.json:
        print(json.dumps([{k: r.get(k) for k in _JSON_KEYS} for r in runs], indent=2))
    else:
        print(table(runs) if runs else f"no runs in {store.path}")
    return 0


def _metric(run: dict[str, Any]) -> str:
    summary = run.get("summary") or {}
    for key in ("val_acc", "val_iou", "acc", "iou"):
        if key in summary:
            return f"{key} {summary[key]:.3f}"
    return ""


def table(runs: list[dict[str, Any]]) -> str:
    header = ("id", "name", "status", "dataset", "device", "steps", "result", "started")
    rows = []
    for r in runs:
        summary = r.get("summary") or {}
        steps = str(int(summary["steps"])) if "steps" in summary else ""
        when = dt.datetime.fromtimestamp(r["created_at"]).strftime("%Y-%m-%d %H:%M") if r.get("created_at") else ""
        rows.append((str(r["id"]), printable(r["name"]), str(r["status"]), str(r.get("dataset") or ""),
                     str(r.get("device") or ""), steps, _metric(r), when))
    widths = [max(len(h), *(len(row[i]) for row in rows)) for i, h in enumerate(header)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True))]
    lines += ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) for row in rows]
    return "\n".join(line.rstrip() for line in lines)
