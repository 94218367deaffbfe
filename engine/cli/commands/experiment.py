"""`experiment NAME [--seeds K] [--steps N] [--json]`: run an experiment from the literature end to end: train its
runs (recorded in the store, so they show up on the Runs and Compare pages), analyse them, print the
conclusion written from the measured numbers. Progress goes to stderr.

Experiments: degradation, gradients, lesion, shortcut_share, unet_skips, transfer, landscape (`--list` describes
them, with their registered claims, and lists the experiments stored so far; `--show ID` re-opens one). Any option:
`--set KEY=VALUE` (see --list --json); `--paper` the publication's settings (for a GPU). A run the store holds
already (same spec, config, seed and code version) is reused, not retrained (`--retrain` to train anyway).
Progress: one bar for the whole experiment, weighted by each run's cost, with an ETA.
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
                   "unet_skips | transfer | landscape")
    p.add_argument("--seeds", type=positive_int, help="runs per architecture (seeds 0..K-1)")
    p.add_argument("--steps", type=positive_int, help="optimizer steps per run")
    p.add_argument("--set", metavar="KEY=VALUE", type=key_value, action="append", default=[],
                   help="any experiment option, e.g. --set depth=32 or --set norm=batch (repeatable)")
    p.add_argument("--tiny", action="store_true", help="the tiny settings the tests use (seconds, not minutes)")
    p.add_argument("--paper", action="store_true", help="the publication's own settings (hours: for a GPU; "
                   "--list --json shows them)")
    p.add_argument("--retrain", action="store_true", help="train every run even if the store holds the same run "
                   "(same spec, config, seed and code version) already")
    p.add_argument("--jobs", type=int, default=None, metavar="N",
                   help="train through the job runner, N child processes at a time; 0: one after another in this "
                   "process (default: 2 on a machine with 2 or more cores, else 0)")
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
    if args.tiny and args.paper:
        raise SpecError("--paper", "--tiny and --paper pick opposite settings; give one of them")
    options: dict[str, Any] = dict(exp.tiny) if args.tiny else dict(exp.paper) if args.paper else {}
    options.update(dict(args.set))
    options.update({k: v for k, v in (("seeds", args.seeds), ("steps", args.steps)) if v is not None})
    exp_id = ex.create_experiment(args.name, options, args.store)
    stop = threading.Event()
    progress = _Progress(exp_id, args, stop)
    old = {s: signal.signal(s, progress.interrupt) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        results = ex.execute(exp_id, args.store, jobs=default_jobs() if args.jobs is None else max(0, args.jobs),
                             should_stop=stop.is_set,
                             on_event=None if args.quiet else progress.on_event, reuse=not args.retrain)
    finally:
        for s, h in old.items():
            signal.signal(s, h)
        progress.finish()
    if results is None:
        print(f"experiment {exp_id} ({args.name}) cancelled", file=sys.stderr)
        return 130
    return _print_record(exp_id, args)


def default_jobs() -> int:
    """Two worker processes where there are two cores: the small nets of a default experiment use one thread well,
    so two runs side by side take about half the wall time of one after another."""
    import os

    return 2 if (os.cpu_count() or 1) >= 2 else 0


def _list(args: argparse.Namespace) -> int:
    from engine.lab import experiments as ex

    stored = ex.ExperimentStore(args.store).list()
    if args.json:
        print(json.dumps({"experiments": [{"name": n, "title": ex.get_experiment(n).title,
                                           "claim": ex.get_experiment(n).claim, "setup": ex.get_experiment(n).setup,
                                           "claims": [c.describe() for c in ex.get_experiment(n).claims],
                                           "paper": ex.get_experiment(n).paper,
                                           "options": ex.get_experiment(n).options.model_json_schema()["properties"]}
                                          for n in ex.experiment_names()],
                          "stored": [{k: e[k] for k in ("id", "name", "status", "created_at", "options")}
                                     for e in stored]}, indent=2))
        return 0
    for n in ex.experiment_names():
        exp = ex.get_experiment(n)
        print(f"{n:15s} {exp.title}")
        if args.name in (None, n):
            for c in exp.claims:
                side = ">" if c.direction == "above" else "<"
                print(f"    {'check' if c.check else 'claim'} {c.key}: {c.text} [{c.source}]\n"
                      f"        statistic: {c.statistic} {side} {c.threshold:g}; why: {c.why}")
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
        verdict = c.get("verdict") or ("held" if c["held"] else "did not hold")
        print(f"  [{verdict}]{' (check)' if c.get('check') else ''} {c['claim']} ({c.get('source', '')}): "
              f"{c['evidence']}")
    runs = results.get("runs", [])
    if runs:
        print("runs: " + ", ".join(f"#{r['run_id']} {r['label']} s{r['seed']} ({r['status']})" for r in runs))
    return 0


def experiment_bar(p: dict[str, Any], width: int = 20) -> str:
    """``[#########...........] 45% 1:02 elapsed, ETA 1:20``: a whole experiment (lab.experiments.progress)."""
    frac = min(1.0, max(0.0, float(p["fraction"])))
    filled = int(round(frac * width))
    eta = p.get("eta_s")
    return (f"[{'#' * filled}{'.' * (width - filled)}] {100 * frac:3.0f}% {fmt_duration(p.get('elapsed_s') or 0.0)} "
            f"elapsed, ETA {fmt_duration(eta) if eta is not None else '?'}")


class _Progress:
    """One status line on stderr: the whole experiment's bar and ETA (work-weighted, from the store), the runs done
    (and reused), and the current run's own step bar when it trains in this process."""

    def __init__(self, exp_id: int, args: argparse.Namespace, stop: threading.Event) -> None:
        self.exp_id, self.args, self.stop = exp_id, args, stop
        self.line = ProgressLine(width=12)
        self.index = -1
        self.tty = sys.stderr.isatty()
        self.last_write = 0.0
        self.last_poll = 0.0
        self.overall = ""

    def interrupt(self, signum: int, _frame: object) -> None:
        if self.stop.is_set() and signum == signal.SIGINT:
            raise KeyboardInterrupt
        self.stop.set()
        sys.stderr.write("\nstopping the experiment after this step (Ctrl-C again to stop at once)\n")

    def on_event(self, index: int | None, ev: Event | None) -> None:
        from engine.lab.experiments import progress

        if index is not None and index != self.index:
            self.index, self.line = index, ProgressLine(width=12)
        if ev is not None:
            self.line.update(ev)
            if isinstance(ev, Started):
                self.line.total = ev.steps
        now = time.monotonic()
        if now - self.last_poll < 0.5 and not isinstance(ev, Done | Started):
            return
        self.last_poll = now
        p = progress(self.exp_id, self.args.store)
        runs = f"runs {p['runs_done']}/{p['runs_total']}"
        if p["runs_reused"]:
            runs += f" ({p['runs_reused']} reused)"
        if index is not None:
            cur = next((c for c in p["current"]), None)
            label = f"{cur['label']} s{cur['seed']}" if cur else ""
            detail = f"{label}: {self.line.render()}"
        else:
            detail = "; ".join(f"{c['label']} s{c['seed']} step {c['step']}/{c['steps']}" for c in p["current"]) \
                or p["phase"]
        self._write(f"{p['name']} {experiment_bar(p)} | {runs} | {detail}")

    def _write(self, text: str) -> None:
        now = time.monotonic()
        if self.tty:
            sys.stderr.write("\r" + text[:220] + "\033[K")
        elif now - self.last_write > 5:  # a log file gets a line every 5 s
            sys.stderr.write(text + "\n")
            self.last_write = now

    def finish(self) -> None:
        if self.tty and not self.args.quiet:
            sys.stderr.write("\n")
