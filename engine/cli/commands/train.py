"""`train SPEC --dataset NAME ...`: train in this process, record the run in the store, show progress on
stderr. Ctrl-C (or SIGTERM) stops after the current step and records the run as `cancelled` with its
data and weights; a second Ctrl-C stops at once (still `cancelled`, without weights).

Exit status: 0 done, 3 diverged, 130 cancelled; 2 for bad input (no run is recorded then).

Under torchrun (`torchrun --nproc_per_node=N -m engine train SPEC ...`) the run is data-parallel over
N processes (engine.train.distributed): the global batch and learning rate are the ones given here,
rank 0 alone records the run and prints progress.
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
from engine.core.errors import SkipLabError, SpecError
from engine.core.text import short
from engine.spec import decode, read_file, text_format
from engine.store import RunStore
from engine.train import distributed
from engine.train.config import TrainConfig, parse_config
from engine.train.events import Alert, Done, Started
from engine.train.progress import ProgressLine, alert_line, summary_text
from engine.train.record import create_run, init_file, run_and_record
from engine.train.trainer import prepare, train

ORDER = 40
EXIT_DIVERGED, EXIT_CANCELLED = 3, 130


def positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a positive number, got {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be a positive number, got {text!r}")
    return value


def key_value(text: str) -> tuple[str, Any]:
    """``lr=0.1`` -> ("lr", 0.1); the value is read as YAML, so numbers, booleans and lists work."""
    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    if not value.strip():
        return key.strip(), None
    try:  # the bounded loader: a value is a YAML scalar or a small list, never an alias bomb or a Python tag
        return key.strip(), decode(value, "yaml", what=f"value of {key.strip()}")
    except SpecError as exc:
        raise argparse.ArgumentTypeError(f"{short(key.strip())}: {exc}") from None


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("train", help="train a preset or spec on a dataset and record the run",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("spec", metavar="SPEC", help="a preset name (see `presets`) or a .yaml/.json spec file")
    p.add_argument("--dataset", help="shapes, digits, shapes_seg, sequence, cifar10, mnist, imagefolder, npz")
    p.add_argument("--steps", type=positive_int)
    p.add_argument("--batch-size", type=positive_int)
    p.add_argument("--lr", type=positive_float, help="peak learning rate (default 0.1 sgd, 1e-3 adamw)")
    p.add_argument("--optimizer", choices=["sgd", "adamw"])
    p.add_argument("--schedule", choices=["constant", "cosine", "step"])
    p.add_argument("--warmup-steps", type=int)
    p.add_argument("--weight-decay", type=float)
    p.add_argument("--grad-clip", type=positive_float, help="clip the global gradient norm")
    p.add_argument("--amp", choices=["off", "bf16", "fp16"], help="mixed precision (CUDA only)")
    p.add_argument("--seed", type=int)
    p.add_argument("--device", choices=["auto", "cpu", "cuda", "mps"])
    p.add_argument("--log-every", type=positive_int, help="metrics and per-layer statistics every N steps")
    p.add_argument("--val-every", type=int, help="validate every N steps (0: only at the end)")
    p.add_argument("--input", metavar="C,H,W", help="override the spec's input shape")
    p.add_argument("--num-classes", type=positive_int, metavar="N", help="override the spec's number of classes")
    p.add_argument("--init-from", metavar="FILE|run:ID", help="start from a checkpoint: a local .pth/.safetensors "
                   "file (torchvision, timm, CIFAR-reference or SkipLab ResNet; see load-weights) or run:ID")
    p.add_argument("--freeze", metavar="UP_TO_STAGE", help="freeze the stem and the stages up to this one: stem, "
                   "stage1, stage2, ... or backbone (everything but the classifier)")
    p.add_argument("--new-head", action="store_true", help="a fresh classifier even when the checkpoint's fits")
    p.add_argument("--loaded-lr-scale", type=positive_float, metavar="X",
                   help="learning rate of the loaded layers relative to --lr (e.g. 0.1)")
    p.add_argument("--config", metavar="FILE", help="a YAML/JSON file of training options (flags override it)")
    p.add_argument("--set", metavar="KEY=VALUE", type=key_value, action="append", default=[],
                   help="any training option, e.g. --set momentum=0.8 (repeatable)")
    p.add_argument("--data", metavar="KEY=VALUE", type=key_value, action="append", default=[],
                   help="a dataset option, e.g. --data train_size=1000 or --data path=~/cifar (repeatable)")
    p.add_argument("--name", help="a label for the run (default: the spec's name)")
    p.add_argument("--store", metavar="PATH", help="run store (default $SKIPLAB_STORE or ~/.skiplab/runs.sqlite)")
    p.add_argument("--json", action="store_true", help="print a JSON summary on stdout at the end")
    p.add_argument("--quiet", action="store_true", help="no progress line")
    p.add_argument("--sweep", metavar="ID:INDEX", type=sweep_entry,
                   help="record the run as entry INDEX of sweep ID (what `sweep --print-commands` writes)")
    p.set_defaults(func=run)


def build_config(args: argparse.Namespace) -> TrainConfig:
    base: dict[str, Any] = {}
    if args.config:
        path = Path(args.config).expanduser()
        try:  # the bounded loader, as for specs: size, nesting, aliases, duplicate keys, no Python tags
            loaded = decode(read_file(path, what="training config",
                                      missing_hint="give a YAML or JSON file of training options"),
                            text_format(path), what="training config")
        except SpecError as exc:
            raise SpecError("--config", str(exc)) from None
        if loaded is not None and not isinstance(loaded, dict):
            raise SpecError("--config", f"{short(str(path))} must hold a mapping of training options, "
                            f"got {type(loaded).__name__}")
        base = dict(loaded or {})
    base.update(dict(args.set))
    if args.data:
        base["dataset_options"] = {**base.get("dataset_options", {}), **dict(args.data)}
    flags = {"dataset": args.dataset, "steps": args.steps, "batch_size": args.batch_size, "lr": args.lr,
             "optimizer": args.optimizer, "schedule": args.schedule, "warmup_steps": args.warmup_steps,
             "weight_decay": args.weight_decay, "grad_clip": args.grad_clip, "amp": args.amp, "seed": args.seed,
             "device": args.device, "log_every": args.log_every, "val_every": args.val_every,
             "init_from": getattr(args, "init_from", None), "freeze": getattr(args, "freeze", None),
             "loaded_lr_scale": getattr(args, "loaded_lr_scale", None),
             "new_head": True if getattr(args, "new_head", False) else None}
    return parse_config(base, **flags)


def spec_arg(args: argparse.Namespace) -> Any:
    """SPEC as given, or with --input / --num-classes applied (a dict spec)."""
    if getattr(args, "input", None) is None and getattr(args, "num_classes", None) is None:
        return args.spec
    from engine.cli.commands.load_weights import spec_with

    return spec_with(args.spec, args.input, args.num_classes)


def sweep_entry(text: str) -> tuple[int, int]:
    sweep, sep, index = text.partition(":")
    if not sep or not sweep.isdigit() or not index.isdigit():
        raise argparse.ArgumentTypeError(f"expected SWEEP_ID:INDEX such as 3:0, got {text!r}")
    return int(sweep), int(index)


class _Stopper:
    """First Ctrl-C / SIGTERM: stop after this step. Second Ctrl-C: KeyboardInterrupt now."""

    def __init__(self, announce: bool = True) -> None:
        self.flag = threading.Event()
        self.announce = announce

    def __call__(self, signum: int, _frame: object) -> None:
        if self.flag.is_set() and signum == signal.SIGINT:
            raise KeyboardInterrupt
        self.flag.set()
        if self.announce:
            sys.stderr.write("\nstopping after this step (Ctrl-C again to stop at once)\n")


def run(args: argparse.Namespace) -> int:
    cfg = build_config(args)
    with distributed.session(cfg.device, cfg.batch_size) as ctx:  # None unless launched by torchrun
        return _run(args, cfg, ctx)


def _follow(spec: Any, cfg: TrainConfig, data: Any, store_path: str | None) -> int:
    """A rank other than 0: train in step with the others, record and print nothing."""
    stopper = _Stopper(announce=False)
    old = {s: signal.signal(s, stopper) for s in (signal.SIGINT, signal.SIGTERM)}
    done: Done | None = None
    try:
        source = init_file(RunStore(store_path), cfg.to_dict())  # init_from: run:ID, resolved as rank 0 does
        for ev in train(spec, cfg, should_stop=stopper.flag.is_set, dataset=data, init_file=source):
            done = ev if isinstance(ev, Done) else done
    finally:
        for s, handler in old.items():
            signal.signal(s, handler)
    assert done is not None
    return {"done": 0, "diverged": EXIT_DIVERGED, "cancelled": EXIT_CANCELLED}.get(done.status, 1)


def _run(args: argparse.Namespace, cfg: TrainConfig, ctx: distributed.DistContext | None) -> int:
    spec = spec_arg(args)
    data = prepare(spec, cfg)  # bad input fails here, before a run is recorded
    if ctx is not None and not ctx.is_main:
        return _follow(spec, cfg, data, args.store)
    store = RunStore(args.store)
    if getattr(args, "sweep", None):
        from engine.store.sweeps import check_entry

        check_entry(store, *args.sweep)
    run_id = create_run(store, spec, cfg, status="running", name=args.name,
                        world_size=ctx.world_size if ctx else 1)
    if getattr(args, "sweep", None):
        from engine.store.sweeps import attach_run

        attach_run(store, *args.sweep, run_id)
    stopper = _Stopper()
    old = {s: signal.signal(s, stopper) for s in (signal.SIGINT, signal.SIGTERM)}
    progress = ProgressLine()
    tty = sys.stderr.isatty()
    last_print = 0.0
    done: Done | None = None
    started = False
    try:
        for ev in run_and_record(store, run_id, should_stop=stopper.flag.is_set, dataset=data):
            started = True
            done = ev if isinstance(ev, Done) else done
            progress.update(ev)
            if isinstance(ev, Started) and ev.init is not None:  # not progress: shown with --quiet too
                sys.stderr.write(init_text(ev.init) + "\n")
            if args.quiet:
                continue
            if isinstance(ev, Alert):
                sys.stderr.write(("\n" if tty else "") + alert_line(ev) + "\n")

            now = time.monotonic()
            if tty:
                sys.stderr.write("\r" + progress.render() + "\033[K")
            elif now - last_print > 5 or isinstance(ev, Done):  # a log file gets a line every 5 s
                sys.stderr.write(progress.render() + "\n")
                last_print = now
        if tty and not args.quiet:
            sys.stderr.write("\n")
    except SkipLabError:
        if not started:  # refused before the first step: bad input, and --help promises no run for that
            store.delete_run(run_id, active=True)
        raise
    finally:
        for s, handler in old.items():
            signal.signal(s, handler)
    assert done is not None
    if args.json:
        print(json.dumps(summary_json(run_id, done, store), indent=2))
    else:
        print(summary_text(run_id, done, str(store.path)))
    return {"done": 0, "diverged": EXIT_DIVERGED, "cancelled": EXIT_CANCELLED}.get(done.status, 1)


def init_text(init: dict[str, Any]) -> str:
    """What a run started from, for stderr: the checkpoint report and what is frozen."""
    lines = [f"initialised from {init['from']}:"] if init.get("from") else []
    if init.get("report"):
        lines += ["  " + line for line in init["report"].splitlines()]
    if init.get("frozen_modules"):
        lines.append(f"frozen: {len(init['frozen_modules'])} layers, {init['frozen_params']:,} parameters "
                     f"(their BatchNorms keep the checkpoint's statistics); training {init['trainable_params']:,}")
    return "\n".join(lines)


def summary_json(run_id: int, done: Done, store: RunStore) -> dict[str, Any]:
    alerts = store.get_alerts(run_id)
    return {"run_id": run_id, "status": done.status, "steps": done.step, "wall_s": round(done.wall_s, 3),
            "summary": done.summary, "weights_path": done.weights_path, "error": done.error,
            "alerts": [{k: a[k] for k in ("step", "kind", "layer", "message")} for a in alerts],
            "init": ((store.get_run(run_id) or {}).get("summary") or {}).get("init"),
            "store": str(store.path)}

