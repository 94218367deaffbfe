"""`experiment NAME [--seeds K] [--steps N] [--json]`: run an experiment from the literature end to end: train its
runs (recorded in the store, so they show up on the Runs and Compare pages), analyse them, print the
conclusion written from the measured numbers. Progress goes to stderr.

Experiments: degradation, gradients, lesion, shortcut_share, unet_skips, landscape (`--list` describes them and lists
the experiments stored so far; `--show ID` re-opens one). Any option: `--set KEY=VALUE` (see --list --json).
Ctrl-C stops after the current step; the experiment is recorded as cancelled.
Exit status: 0 done, 130 cancelled, 2 bad input.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
import time
from typing import Any

from engine.cli.commands.summary import positive_int
from engine.cli.commands.train import key_value
from engine.core.errors import SpecError
from engine.train.events import Done, Event, Started
from engine.train.progress import ProgressLine, fmt_duration

ORDER = 45


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("experiment", help="run an experiment from the literature (degradation, lesion, ...)",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("name", metavar="NAME", nargs="?", help="degradation | gradients | lesion | shortcut_share | "
                   "unet_skips | landscape")
    p.add_argument("--seeds", type=positive_int, help="runs per architecture (seeds 0..K-1)")
    p.add_argument("--steps", type=positive_int, help="optimizer steps per run")
    p.add_argument("--set", metavar="KEY=VALUE", type=key_value, action="append", default=[],
                   help="any experiment option, e.g. --set depth=32 or --set norm=batch (repeatable)")
    p.add_argument("--tiny", action="store_true", help="the tiny settings the tests use (seconds, not minutes)")
    p.add_argument("--jobs", type=int, default=0, metavar="N",
                   help="train through the job runner, N child processes at a time (default 0: in this process)")
    p.add_argument("--store", metavar="PATH", help="run store (default $SKIPLAB_STORE or ~/.skiplab/runs.sqlite)")
    p.add_argument("--json", action="store_true", help="print the results as JSON on stdout")
    p.add_argument("--list", action="store_true", help="the experiments and the ones stored so far")
    p.add_argument("--show", type=positive_int, metavar="ID", help="print a stored experiment's results")
    p.add_argument("--analyse", type=positive_int, metavar="ID", help="re-run the analysis of a stored experiment")
    p.add_argument("--quiet", action="store_true", help="no progress on stderr")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from engine.lab import experiments as ex

    if args.list:
        return _list(args)
    if args.show or args.analyse:
        exp_id = args.show or args.analyse
        if args.analyse:
            ex.analyse(exp_id, args.store)
        return _print_record(exp_id, args)
    if not args.name:
        raise SpecError("NAME", f"name an experiment: {', '.join(ex.experiment_names())} (or --list)")
    exp = ex.get_experiment(args.name)
    options: dict[str, Any] = dict(exp.tiny) if args.tiny else {}
    options.update(dict(args.set))
    options.update({k: v for k, v in (("seeds", args.seeds), ("steps", args.steps)) if v is not None})
    exp_id = ex.create_experiment(args.name, options, args.store)
    stop = threading.Event()
    progress = _Progress(exp_id, args, stop)
    old = {s: signal.signal(s, progress.interrupt) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        results = ex.execute(exp_id, args.store, jobs=max(0, args.jobs), should_stop=stop.is_set,
                             on_event=None if args.quiet else progress.on_event)
    finally:
        for s, h in old.items():
            signal.signal(s, h)
        progress.finish()
    if results is None:
        print(f"experiment {exp_id} ({args.name}) cancelled", file=sys.stderr)
        return 130
    return _print_record(exp_id, args)


def _list(args: argparse.Namespace) -> int:
    from engine.lab import experiments as ex

    stored = ex.ExperimentStore(args.store).list()
    if args.json:
        print(json.dumps({"experiments": [{"name": n, "title": ex.get_experiment(n).title,
                                           "claim": ex.get_experiment(n).claim,
                                           "options": ex.get_experiment(n).options.model_json_schema()["properties"]}
                                          for n in ex.experiment_names()],
                          "stored": [{k: e[k] for k in ("id", "name", "status", "created_at", "options")}
                                     for e in stored]}, indent=2))
        return 0
    for n in ex.experiment_names():
        print(f"{n:15s} {ex.get_experiment(n).title}")
    if stored:
        print("\nstored:")
        for e in stored:
            when = time.strftime("%Y-%m-%d %H:%M", time.localtime(e["created_at"]))
            print(f"  #{e['id']:<4d} {e['name']:15s} {e['status']:11s} {when}  {len(e['runs'])} runs")
    return 0


def _print_record(exp_id: int, args: argparse.Namespace) -> int:
    from engine.lab import experiments as ex

    rec = ex.ExperimentStore(args.store).get(exp_id)
    if rec is None:
        raise SpecError("--show", f"no experiment {exp_id} in the store; see `python -m engine experiment --list`")
    results = rec.get("results") or {}
    if args.json:
        print(json.dumps({"id": exp_id, "name": rec["name"], "status": rec["status"], "options": rec["options"],
                          "error": rec.get("error"), **results}, indent=2))
        return 0
    wall = (rec["finished_at"] or time.time()) - (rec["started_at"] or rec["created_at"])
    print(f"experiment #{exp_id} {rec['name']}: {rec['status']} in {fmt_duration(wall)}")
    if rec.get("error"):
        print(f"  {rec['error']}")
    if results.get("conclusion"):
        print("\n" + results["conclusion"])
    for c in results.get("claims", []):
        print(f"  [{'held' if c['held'] else 'NOT held'}] {c['claim']}: {c['evidence']}")
    runs = results.get("runs", [])
    if runs:
        print("runs: " + ", ".join(f"#{r['run_id']} {r['label']} s{r['seed']} ({r['status']})" for r in runs))
    return 0


class _Progress:
    """One status line on stderr: runs done / total, the current run's step bar, the overall fraction."""

    def __init__(self, exp_id: int, args: argparse.Namespace, stop: threading.Event) -> None:
        from engine.lab.experiments import ExperimentStore

        self.exp_id, self.args, self.stop = exp_id, args, stop
        self.rec = ExperimentStore(args.store).get(exp_id) or {"runs": []}
        self.steps = [int(r["config"]["steps"]) for r in self.rec["runs"]]
        self.line = ProgressLine(width=16)
        self.index = -1
        self.done: set[int] = set()
        self.tty = sys.stderr.isatty()
        self.last = 0.0
        self.t0 = time.perf_counter()

    def interrupt(self, signum: int, _frame: object) -> None:
        if self.stop.is_set() and signum == signal.SIGINT:
            raise KeyboardInterrupt
        self.stop.set()
        sys.stderr.write("\nstopping the experiment after this step (Ctrl-C again to stop at once)\n")

    def on_event(self, index: int | None, ev: Event | None) -> None:
        if index is None:
            text = self._from_store()
        else:
            if index != self.index:
                self.index, self.line = index, ProgressLine(width=16)
            if ev is not None:
                self.line.update(ev)
                if isinstance(ev, Done):
                    self.done.add(index)
                if isinstance(ev, Started):
                    self.line.total = self.steps[index]
            r = self.rec["runs"][index]
            taken = sum(self.steps[i] for i in self.done) + (0 if index in self.done else self.line.step)
            frac = taken / max(1, sum(self.steps))
            text = (f"runs {len(self.done)}/{len(self.steps)} done | {r['label']} s{r['seed']}: {self.line.render()} "
                    f"| overall {100 * frac:.0f}% in {fmt_duration(time.perf_counter() - self.t0)}")
        self._write(text)

    def _from_store(self) -> str:
        from engine.lab.experiments import progress

        p = progress(self.exp_id, self.args.store)
        cur = "; ".join(f"{c['label']} s{c['seed']} step {c['step']}/{c['steps']}" for c in p["current"])
        return (f"runs {p['runs_done']}/{p['runs_total']} done | {cur or p['phase']} | overall "
                f"{100 * p['fraction']:.0f}% in {fmt_duration(time.perf_counter() - self.t0)}")

    def _write(self, text: str) -> None:
        now = time.monotonic()
        if self.tty:
            sys.stderr.write("\r" + text[:200] + "\033[K")
        elif now - self.last > 5:  # a log file gets a line every 5 s
            sys.stderr.write(text + "\n")
            self.last = now

    def finish(self) -> None:
        if self.tty and not self.args.quiet:
            sys.stderr.write("\n")
