"""Events -> run store. The CLI and the job runner both train through `run_and_record`, so a run started
from either one looks the same in the dashboard.

Final weights go to ``<store file>.weights/run-<id>.pt`` beside the store (a ``state_dict``; never over an existing
file, see `engine.store.weights`); the path written is recorded in the run's summary as ``weights_path``.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

from engine.analysis.specdiff import derived_name
from engine.arch import SpecLike, expand, load_spec
from engine.build import resolve_device
from engine.data import check_data_path
from engine.spec import to_dict
from engine.store import RunStore, StoreError, snapshots
from engine.store.weights import weights_file
from engine.train import transfer
from engine.train.budget import check_training
from engine.train.config import TrainConfig, check_device, parse_config
from engine.train.events import Alert, Done, Event, Histograms, LayerStats, Metrics, Samples, Started
from engine.train.trainer import train

log = logging.getLogger(__name__)


def weights_path(store: RunStore, run_id: int) -> Path:
    """The run's preferred weights file: in the store's own folder, so two stores never share one."""
    return weights_file(store.path, run_id)


def create_run(store: RunStore, spec: SpecLike, config: TrainConfig | dict[str, Any] | None,
               status: str = "queued", name: str | None = None, world_size: int = 1) -> int:
    """Validate spec and config (raising SpecError before anything is written) and insert the run."""
    from engine.data import DataError, dataset_options

    cfg = parse_config(config)
    valid = dataset_options(cfg.dataset)  # an unknown dataset is a DataError listing the valid ones
    unknown = sorted(set(cfg.dataset_options) - set(valid) - {"seed"})
    if unknown:
        raise DataError(f"dataset {cfg.dataset!r} got unknown option(s) {', '.join(unknown)}; "
                        f"valid options: {', '.join(sorted(valid)) or '(none)'}")
    parsed = load_spec(spec)
    device = str(resolve_device(cfg.device))
    check_device(cfg, resolve_device(cfg.device).type)
    check_data_path(cfg.dataset, cfg.dataset_options)  # no path, or none there: refused before a write
    check_training(expand(parsed), cfg, device)  # model, batch and data set must fit: refused before a write
    check_init(store, parsed, cfg)
    # a readable name: the preset and what differs from it ("resnet20 · shortcut none"), engine.analysis.specdiff
    label = name or derived_name(parsed)
    return store.create_run(str(label), to_dict(parsed), cfg.to_dict(), cfg.dataset, device, status,
                            world_size=world_size)


def check_init(store: RunStore, spec: SpecLike, cfg: TrainConfig) -> None:
    """A run started from a checkpoint: the file (or run:ID) exists, something in it maps onto the spec, and the
    frozen stage exists. Raises SkipLabError before the run is written."""
    if cfg.init_from is None and cfg.freeze is None:
        return
    from engine.build import build

    transfer.frozen_modules(build(expand(spec), "meta"), cfg.freeze)
    # plan:LABEL is an experiment's reference to its own earlier run: checked when the driver resolves it
    if cfg.init_from is not None and not cfg.init_from.startswith(transfer.PLAN_REF):
        from engine.export.checkpoints import check_init as check_file

        trusted = transfer.is_reference(cfg.init_from)
        path = transfer.resolve_source(store, cfg.init_from) if trusted else cfg.init_from
        check_file(spec, path, new_head=cfg.new_head, trusted=trusted)


def init_file(store: RunStore, cfg: dict[str, Any]) -> Path | None:
    """The weights file of an ``init_from: run:ID``, resolved through the store (a file path passes as is)."""
    source = cfg.get("init_from")
    return transfer.resolve_source(store, source) if source and transfer.is_reference(source) else None


def record(events: Iterable[Event], store: RunStore, run_id: int) -> Iterator[Event]:
    """Write each event to the store, then pass it on (so a progress bar can consume the same stream)."""
    init: dict[str, Any] | None = None
    for ev in events:
        if isinstance(ev, Started):
            store.set_layers(run_id, [layer.to_dict() for layer in ev.layers])
            if ev.init is not None:  # what the run started from, visible while it trains
                init = ev.init
                store.set_summary(run_id, {"init": init})
        elif isinstance(ev, Metrics):
            store.log_metrics(run_id, ev.step, ev.values)
        elif isinstance(ev, LayerStats):
            store.log_layer_stats_many(run_id, [(s, {k: v[i] for k, v in ev.stats.items()})
                                                for i, s in enumerate(ev.steps)])
        elif isinstance(ev, Histograms):
            snapshots.log_histograms(store, run_id, ev.steps, ev.stats, ev.lo, ev.hi)
        elif isinstance(ev, Samples):
            snapshots.log_samples(store, run_id, ev.step, ev.images)
        elif isinstance(ev, Alert):
            store.add_alert(run_id, ev.step, ev.kind, ev.message, ev.layer)
        elif isinstance(ev, Done):
            summary: dict[str, Any] = dict(ev.summary)
            if init is not None:
                summary["init"] = init
            if ev.weights_path:
                summary["weights_path"] = ev.weights_path
            with contextlib.suppress(StoreError):  # the run was deleted under us: nothing left to record into
                store.set_summary(run_id, summary)
                store.set_status(run_id, ev.status, ev.error)
        yield ev


CHECK_RUN_EVERY_S = 1.0  # how often a training looks whether its run was deleted or cancelled elsewhere


def stop_when_gone(store: RunStore, run_id: int, should_stop: Callable[[], bool] | None,
                   every: float = CHECK_RUN_EVERY_S) -> Callable[[], bool]:
    """`should_stop`, or the run no longer exists / was cancelled in the store (by a dashboard on another
    machine, or deleted): a worker never trains on into a run nobody can see or cancel."""
    last, gone = [time.monotonic()], [False]

    def check() -> bool:
        if should_stop is not None and should_stop():
            return True
        now = time.monotonic()
        if not gone[0] and now - last[0] >= every:
            last[0] = now
            run = store.get_run(run_id)
            gone[0] = run is None or run["status"] == "cancelled"
        return gone[0]

    return check


def run_and_record(store: RunStore, run_id: int, *, should_stop: Callable[[], bool] | None = None,
                   dataset: Any | None = None) -> Iterator[Event]:
    """Train the run stored as ``run_id`` (its spec and config come from the store) and record it.

    Any exception marks the run ``failed`` with the message (``cancelled`` for Ctrl-C) and propagates;
    data logged so far is kept.
    """
    run = store.get_run(run_id)
    if run is None:
        raise ValueError(f"no run {run_id} in {store.path}")
    store.set_pid(run_id)
    if not store.transition(run_id, ["queued", "running"], "running"):
        log.info("run %d is %s; not starting it", run_id, run["status"])
        return  # cancelled between being queued and this process starting
    finished = False
    try:
        events = train(run["spec"], run["config"], should_stop=stop_when_gone(store, run_id, should_stop),
                       weights_path=weights_path(store, run_id), dataset=dataset,
                       init_file=init_file(store, run["config"]))
        for ev in record(events, store, run_id):
            finished = finished or isinstance(ev, Done)
            yield ev
    except (KeyboardInterrupt, GeneratorExit):
        if not finished:
            with contextlib.suppress(StoreError):
                store.set_status(run_id, "cancelled", "stopped by the user")
        raise
    except BaseException as exc:
        if not finished:
            with contextlib.suppress(StoreError):
                store.set_status(run_id, "failed", str(exc) or exc.__class__.__name__)
        raise
