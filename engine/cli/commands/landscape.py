"""`landscape RUN_ID [--dim 1|2] [--grid N] [--span S] [--seed K] ...`: the loss surface around a stored run's final
weights (Li et al. 2018: filter-normalised random directions, BN in eval mode), or with `--direction init` along the
line from its initial to its final weights; stored with the run, so the dashboard shows it. Progress on stderr;
`--json` prints the result (dim, alphas, betas, loss with the centre at index grid // 2, center_loss, measures,
hessian). Ctrl-C stops at the next point (exit 130, nothing stored).
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any

from engine.cli.commands.summary import positive_int
from engine.cli.commands.train import positive_float
from engine.core.errors import SpecError
from engine.store import default_store_path

ORDER = 66
EXIT_CANCELLED = 130


def non_negative_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a whole number >= 0, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be a whole number >= 0, got {text!r}")
    return value


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("landscape", help="loss surface around a run's trained weights (stored with the run)",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("run_id", metavar="RUN_ID", type=positive_int, help="the run id (see `runs`)")
    p.add_argument("--dim", type=int, choices=[1, 2], help="1: a curve, 2: a surface (default 2)")
    p.add_argument("--direction", choices=["random", "init"],
                   help="random: filter-normalised random direction(s) (default); init: the line from the initial "
                   "(alpha -1) to the final weights (alpha 0), 1-D")
    p.add_argument("--grid", type=positive_int, help="points per axis, odd (default 21)")
    p.add_argument("--span", type=positive_float, help="axes from -S to S (default 1)")
    p.add_argument("--seed", type=non_negative_int, help="seed of the random directions (default 0)")
    p.add_argument("--samples", type=positive_int, help="training samples the loss is measured on (default 512)")
    p.add_argument("--batch-size", type=positive_int, help="samples per forward pass (default 256)")
    p.add_argument("--hessian", choices=["none", "center", "grid"],
                   help="Hessian eigenvalues (Lanczos): none, at the centre (default) or on a coarse grid (2-D)")
    p.add_argument("--hessian-grid", type=positive_int, help="points per axis of the Hessian grid, odd (default 5)")
    p.add_argument("--hessian-iters", type=positive_int, help="Lanczos iterations per point (default 20)")
    p.add_argument("--hessian-samples", type=positive_int, help="samples for the Hessian (default 256)")
    p.add_argument("--device", choices=["auto", "cpu", "cuda", "mps"], help="default auto: CUDA, MPS, then CPU")
    p.add_argument("--store", metavar="PATH", help="run store (default $SKIPLAB_STORE or ~/.skiplab/runs.sqlite)")
    p.add_argument("--no-save", action="store_true", help="do not store the result with the run")
    p.add_argument("--list", action="store_true", help="list the landscapes stored for RUN_ID and exit")
    p.add_argument("--json", action="store_true", help="print the result as JSON on stdout")
    p.add_argument("--quiet", action="store_true", help="no progress line")
    p.set_defaults(func=run)


def store_file(arg: str | None) -> Path:
    path = Path(arg).expanduser() if arg else default_store_path()
    if not path.is_file():
        raise SpecError("--store", f"no run store at {path}; train a run first (`python -m engine train ...`) or "
                        "pass --store PATH")
    return path


def options_from(args: argparse.Namespace) -> dict[str, Any]:
    keys = ("dim", "direction", "grid", "span", "seed", "samples", "batch_size", "hessian", "hessian_grid",
            "hessian_iters", "hessian_samples", "device")
    return {k: getattr(args, k) for k in keys if getattr(args, k) is not None}


class StopFlag:
    """First Ctrl-C / SIGTERM: stop at the next point. Second Ctrl-C: KeyboardInterrupt now."""

    def __init__(self) -> None:
        self.flag = threading.Event()

    def __call__(self, signum: int, _frame: object) -> None:
        if self.flag.is_set() and signum == signal.SIGINT:
            raise KeyboardInterrupt
        self.flag.set()
        sys.stderr.write("\nstopping at the next point (Ctrl-C again to stop at once)\n")


def progress_text(fraction: float, phase: str, t0: float, width: int = 20) -> str:
    from engine.train.progress import fmt_duration

    filled = int(round(min(1.0, fraction) * width))
    elapsed = time.perf_counter() - t0
    eta = elapsed * (1 - fraction) / fraction if fraction > 0 else float("nan")
    return f"{phase} [{'#' * filled}{'.' * (width - filled)}] {100 * fraction:3.0f}% ETA {fmt_duration(eta)}"


def list_landscapes(path: Path, run_id: int, as_json: bool) -> int:
    from engine.store.landscapes import LandscapeStore

    recs = LandscapeStore(path).list(run_id, "surface")
    if as_json:
        print(json.dumps([{k: r[k] for k in ("id", "status", "options", "created_at", "error")} for r in recs],
                         indent=2))
        return 0
    if not recs:
        print(f"run {run_id}: no landscapes stored")
    for r in recs:
        o = r["options"]
        print(f"#{r['id']} {r['status']}: dim {o.get('dim')} {o.get('direction')} grid {o.get('grid')} "
              f"span {o.get('span')} seed {o.get('seed')}" + (f" ({r['error']})" if r.get("error") else ""))
    return 0


def run(args: argparse.Namespace) -> int:
    from engine.lab.landscape.conclusion import describe_surface
    from engine.lab.landscape.record import check_surface, run_landscape
    from engine.lab.landscape.surface import SurfaceDone, SurfaceProgress

    path = store_file(args.store)
    if args.list:
        return list_landscapes(path, args.run_id, args.json)
    opts = check_surface(path, args.run_id, options_from(args))  # exit 2 before any work or write
    stop = StopFlag()
    old = {s: signal.signal(s, stop) for s in (signal.SIGINT, signal.SIGTERM)}
    tty, t0, last = sys.stderr.isatty(), time.perf_counter(), 0.0
    done: SurfaceDone | None = None
    try:
        for ev in run_landscape(path, args.run_id, opts, save=not args.no_save, should_stop=stop.flag.is_set):
            if isinstance(ev, SurfaceDone):
                done = ev
            elif isinstance(ev, SurfaceProgress) and not args.quiet:
                now = time.monotonic()
                if tty:
                    sys.stderr.write("\r" + progress_text(ev.fraction, ev.phase, t0) + "\033[K")
                elif now - last > 5:  # a log file gets a line every 5 s
                    sys.stderr.write(progress_text(ev.fraction, ev.phase, t0) + "\n")
                    last = now
        if tty and not args.quiet:
            sys.stderr.write("\n")
    finally:
        for s, handler in old.items():
            signal.signal(s, handler)
    if done is None or done.result is None:
        print(f"landscape of run {args.run_id}: cancelled after {done.seconds if done else 0:.1f} s; nothing stored",
              file=sys.stderr)
        return EXIT_CANCELLED
    result = done.result
    if args.json:
        print(json.dumps(result))
        return 0
    print(describe_surface(result))
    where = f"stored as landscape #{result['job_id']}" if result.get("job_id") else "not stored (--no-save)"
    print(f"{result['points_per_s']:.2f} points/s on {result['device']}, {result['seconds']:.1f} s; {where}")
    return 0
