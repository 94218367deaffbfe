"""`sweep SWEEP.yaml`: run a base spec over a grid or list of overrides (depth x shortcut x seed ...) as a
queue through the job runner, at most --max-concurrent at a time, with per-run progress on stderr. The
sweep and its runs are recorded in the store; open it on the Compare page (mode "Sweep").

`--print-commands` records the sweep, writes each entry's spec and config next to it and prints one
torchrun command per entry instead of running anything: on a cluster, submit each as its own job.

Exit status: 0 when every run finished (done or diverged: a plain deep net diverging is a result),
1 when a run failed, 130 when cancelled, 2 for bad input (nothing is recorded then).
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import time
from pathlib import Path

import yaml

from engine.cli.commands.summary import positive_int
from engine.lab.sweeps.definition import Entry, SweepDef, expand, load_sweep
from engine.lab.sweeps.results import format_rows, variant_rows
from engine.lab.sweeps.run import SweepProgress, check_data, run_sweep
from engine.store import RunStore
from engine.store.sweeps import create_sweep

ORDER = 42


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("sweep", help="run a spec over a grid of overrides and seeds", description=__doc__,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("sweep", metavar="SWEEP", help="a YAML/JSON sweep file (base, config, grid and/or variants)")
    p.add_argument("--max-concurrent", type=positive_int, help="runs at the same time (default: the file's, or 1)")
    p.add_argument("--store", metavar="PATH", help="run store (default $SKIPLAB_STORE or ~/.skiplab/runs.sqlite)")
    p.add_argument("--dry-run", action="store_true", help="list the entries and exit")
    p.add_argument("--print-commands", action="store_true",
                   help="record the sweep and print one torchrun command per entry instead of running")
    p.add_argument("--out", metavar="DIR", help="--print-commands: folder for the entries' spec and config files "
                   "(default: sweep-ID beside the sweep file)")
    p.add_argument("--nproc-per-node", type=positive_int, default=1, help="--print-commands: processes (GPUs) "
                   "per node")
    p.add_argument("--nnodes", type=positive_int, default=1, help="--print-commands: nodes per run")
    p.add_argument("--json", action="store_true", help="print a JSON summary on stdout at the end")
    p.add_argument("--quiet", action="store_true", help="no progress on stderr")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    sweep, base_dir = load_sweep(args.sweep)
    entries = expand(sweep, base_dir)
    if args.dry_run:
        for e in entries:
            print(f"[{e.index}] {e.variant} seed {e.seed}")
        print(f"{len(entries)} runs")
        return 0
    if args.print_commands:
        return print_commands(args, sweep, entries, Path(args.sweep).expanduser().resolve().parent)
    view = _View(quiet=args.quiet)
    try:
        prog = run_sweep(sweep, entries, args.store, max_concurrent=args.max_concurrent, on_progress=view.update)
    except KeyboardInterrupt:
        sys.stderr.write("\nsweep cancelled; runs not finished were cancelled (their data is kept)\n")
        return 130
    store = RunStore(args.store)
    from engine.store.sweeps import get_sweep

    rows = variant_rows(store, get_sweep(store, prog.sweep_id) or {"runs": []})
    if args.json:
        print(json.dumps({"sweep_id": prog.sweep_id, "name": prog.name, "store": str(store.path),
                          "runs": [vars(r) for r in prog.runs], "variants": rows}, indent=2, default=str))
    else:
        print(f"sweep {prog.sweep_id} ({prog.name}): {len(prog.runs)} runs in {store.path}")
        print(format_rows(rows))
        print("  open it on the Compare page (mode: Sweep)")
    statuses = {r.status for r in prog.runs}
    if "cancelled" in statuses:
        return 130
    return 1 if statuses - {"done", "diverged"} else 0


class _View:
    """Per-run lines plus an overall line: redrawn in place on a terminal; in a log, a run's line when its
    status changes and the overall line every 5 s."""

    def __init__(self, quiet: bool) -> None:
        self.quiet = quiet
        self.tty = sys.stderr.isatty()
        self.drawn = 0
        self.status: dict[int, str] = {}
        self.last_line = 0.0

    def update(self, prog: SweepProgress) -> None:
        if self.quiet:
            return
        lines = prog.run_lines()
        if self.tty:
            out = f"\033[{self.drawn}F" if self.drawn else ""  # back to the first line of the last draw
            out += "".join(f"{line}\033[K\n" for line in [*lines, prog.line()])
            sys.stderr.write(out)
            self.drawn = len(lines) + 1
            return
        for r, line in zip(prog.runs, lines, strict=True):
            if self.status.get(r.run_id) != r.status:
                sys.stderr.write(line + "\n")
                self.status[r.run_id] = r.status
        now = time.monotonic()
        if now - self.last_line > 5 or prog.finished:
            sys.stderr.write(prog.line() + "\n")
            self.last_line = now
        sys.stderr.flush()


def print_commands(args: argparse.Namespace, sweep: SweepDef, entries: list[Entry], here: Path) -> int:
    """Record the sweep, write each entry's spec/config files, print a torchrun command per entry."""
    check_data(entries)
    store = RunStore(args.store)
    name = sweep.name or "sweep"
    sweep_id = create_sweep(store, name, sweep.model_dump(mode="json"), [e.to_dict() for e in entries])
    out = Path(args.out).expanduser() if args.out else here / f"sweep-{sweep_id}"
    out.mkdir(parents=True, exist_ok=True)
    print(f"# sweep {sweep_id} ({name}): {len(entries)} runs; store {store.path}")
    print("# each line is one job; rank 0 of each records its run in the store above (keep it on a disk")
    print("# the first node of each job can write; SQLite over NFS is not safe with concurrent writers)")
    for e in entries:
        spec_file, cfg_file = out / f"entry-{e.index:03d}.spec.yaml", out / f"entry-{e.index:03d}.config.yaml"
        spec_file.write_text(yaml.safe_dump(e.spec, sort_keys=False), encoding="utf-8")
        cfg_file.write_text(yaml.safe_dump(e.config, sort_keys=False), encoding="utf-8")
        if args.nnodes == 1:
            launch = ["torchrun", "--standalone", f"--nproc_per_node={args.nproc_per_node}"]
        else:
            launch = ["torchrun", f"--nnodes={args.nnodes}", f"--nproc_per_node={args.nproc_per_node}",
                      "--rdzv_backend=c10d", "--rdzv_endpoint=$MASTER_ADDR:29500",
                      f"--rdzv_id=skiplab-{sweep_id}-{e.index}"]
        cmd = [*launch, "-m", "engine", "train", str(spec_file), "--config", str(cfg_file),
               "--name", e.run_name(name), "--sweep", f"{sweep_id}:{e.index}", "--store", str(store.path)]
        # $MASTER_ADDR is left for the job's shell to fill in
        print(" ".join(c if c.startswith("--rdzv_endpoint=$") else shlex.quote(c) for c in cmd))
    return 0
