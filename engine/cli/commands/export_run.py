"""`export-run ID [--tensorboard DIR] [--csv DIR] [--parquet DIR] [--store PATH]`: a run's metrics and
per-layer statistics as TensorBoard events, CSV or Parquet tables, with its spec as YAML and JSON."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from engine.cli.commands.summary import positive_int
from engine.core.errors import SpecError

ORDER = 64


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("export-run", help="export a run to TensorBoard, CSV or Parquet (with its spec)")
    p.add_argument("run_id", metavar="ID", type=positive_int, help="the run id (see `runs`)")
    p.add_argument("--tensorboard", metavar="DIR", help="write TensorBoard events under DIR (optional extra)")
    p.add_argument("--csv", metavar="DIR", help="write metrics/layer_stats/layers/alerts .csv, run.json, spec.*")
    p.add_argument("--parquet", metavar="DIR", help="the same tables as .parquet (needs pyarrow)")
    p.add_argument("--layer-stats", default="grad_norm", metavar="STATS",
                   help="tensorboard: comma-separated layer statistics written per layer, or 'all' "
                   "(default grad_norm; every statistic gets a histogram over the layers)")
    p.add_argument("--store", metavar="PATH", help="the run store (default $SKIPLAB_STORE or ~/.skiplab/runs.sqlite)")
    p.add_argument("--json", action="store_true", help="print what was written as JSON")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from engine.export.runs import export_run_tables
    from engine.export.tensorboard_export import export_tensorboard
    from engine.store import RunStore, default_store_path

    if not (args.tensorboard or args.csv or args.parquet):
        raise SpecError("export-run", "say what to write: --tensorboard DIR, --csv DIR and/or --parquet DIR")
    path = Path(args.store) if args.store else default_store_path()
    if not path.is_file():
        raise SpecError("--store", f"no run store at {path}; train a run first or pass --store PATH")
    store = RunStore(path)
    written: dict[str, list[str]] = {}
    if args.tensorboard:
        stats = tuple(s.strip() for s in args.layer_stats.split(",") if s.strip())
        written["tensorboard"] = [str(export_tensorboard(store, args.run_id, args.tensorboard, layer_stats=stats))]
    for fmt in ("csv", "parquet"):
        directory = getattr(args, fmt)
        if directory:
            written[fmt] = [str(p) for p in export_run_tables(store, args.run_id, directory, (fmt,))]
    if args.json:
        print(json.dumps(written, indent=2))
    else:
        for kind, paths in written.items():
            where = paths[0] if kind == "tensorboard" else f"{len(paths)} files in {Path(paths[0]).parent}"
            print(f"{kind}: {where}")
        if "tensorboard" in written:
            print(f"view with: tensorboard --logdir {args.tensorboard}")
    return 0
