"""A stored run as a landscape needs it: its model with the final weights, its initial weights, its loss and the
fixed batches of its training data. Every problem is a `LandscapeError` naming the run and the fix.

What a run keeps (engine.train.trainer): the final weights (``summary.weights_path``, a state_dict) and, since
landscapes were added, the initial ones (``summary.init_weights_path``). For an older run without the initial
file they are rebuilt from its spec and seed: the trainer initialises on the CPU from ``torch.manual_seed(seed)``
(engine.build), so the rebuild is the same tensors under the same torch version. A run that started from a
checkpoint (``init_from``) and saved no initial file is refused instead: its start was not the seed's build.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from engine.arch import expand
from engine.build import build, resolve_device
from engine.core.errors import SkipLabError
from engine.ir.graph import Graph, infer_shapes
from engine.lab.landscape.probe import Batches, LossFn, pick_samples, prepare_model
from engine.store import RunStore
from engine.train.config import TrainConfig, parse_config
from engine.train.tasks import task_for

log = logging.getLogger(__name__)


class LandscapeError(SkipLabError, ValueError):
    """A run or spec a landscape cannot be computed for; the message names it and the fix."""


@dataclass
class RunModel:
    run_id: int
    name: str
    graph: Graph
    model: nn.Module  # the final weights, on the device, eval mode
    loss_fn: LossFn
    config: TrainConfig
    weights_path: str
    data: Any  # engine.data.Dataset
    init_state: dict[str, torch.Tensor] | None  # None until `load_init` is called
    init_source: str = ""


def _load_state(path: str, what: str, run_id: int) -> dict[str, torch.Tensor]:
    if not Path(path).is_file():
        raise LandscapeError(f"run #{run_id}: its {what} weights file {path} is missing (moved or deleted); "
                             "train the run again to get a landscape")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - a truncated or foreign file, as a plain message
        raise LandscapeError(f"run #{run_id}: cannot read its {what} weights {path} ({type(exc).__name__}: "
                             f"{str(exc)[:200]}); train the run again") from None
    if not isinstance(state, dict):
        raise LandscapeError(f"run #{run_id}: {path} holds a {type(state).__name__}, not a state_dict")
    return state


def stored_run(store: RunStore, run_id: int) -> dict[str, Any]:
    """The run's row, or a LandscapeError saying why it has no landscape (unknown, unfinished, no weights)."""
    run = store.get_run(run_id)
    if run is None:
        raise LandscapeError(f"no run #{run_id} in {store.path}; list runs with `python -m engine runs`")
    summary = run.get("summary") or {}
    if run["status"] in ("queued", "running"):
        raise LandscapeError(f"run #{run_id} is still {run['status']}; its landscape is computed from its final "
                             "weights, so wait until it has finished")
    if not summary.get("weights_path"):
        why = {"diverged": "it diverged (no weights are kept from a diverged run)",
               "failed": "it failed before saving weights", "interrupted": "its process ended before saving weights"}
        reason = why.get(run["status"], "it was trained with save_weights: false")
        raise LandscapeError(f"run #{run_id} has no saved weights: {reason}; train it again (with save_weights "
                             "true) to get a landscape")
    return run


def load_run(store: RunStore, run_id: int, device: str = "auto", *, with_init: bool = False) -> RunModel:
    run = stored_run(store, run_id)
    dev = resolve_device(device)
    graph = expand(run["spec"])
    cfg = parse_config(run["config"])
    state = _load_state(run["summary"]["weights_path"], "final", run_id)
    model = build(graph, "cpu")
    try:
        model.load_state_dict(state)
    except RuntimeError as exc:
        raise LandscapeError(f"run #{run_id}: its weights do not fit its spec ({str(exc)[:300]})") from None
    from engine.train.trainer import load_data

    data = load_data(cfg)  # built-in sets are regenerated: they are deterministic in their options
    task = task_for(graph, data.info, infer_shapes(graph)[graph.output])
    rm = RunModel(run_id, str(run.get("name") or f"run {run_id}"), graph, model.to(dev).eval(), task.loss, cfg,
                  run["summary"]["weights_path"], data, None)
    if with_init:
        load_init(rm, store)
    return rm


def load_init(rm: RunModel, store: RunStore) -> None:
    """The initial weights: the saved file, else rebuilt from the spec and seed (see the module docstring)."""
    run = store.get_run(rm.run_id) or {}
    path = (run.get("summary") or {}).get("init_weights_path")
    if path and Path(path).is_file():
        rm.init_state, rm.init_source = _load_state(path, "initial", rm.run_id), "saved at the start of training"
        return
    if rm.config.init_from:  # its start was a checkpoint, not the seed's build
        raise LandscapeError(f"run #{rm.run_id} started from a checkpoint ({str(rm.config.init_from)[:120]}) and "
                             "saved no initial weights, so its start cannot be rebuilt from the seed; use direction "
                             "'random', or train it again (runs save their initial weights now)")
    rm.init_state = build(rm.graph, "cpu", seed=rm.config.seed).state_dict()
    rm.init_source = "rebuilt from the run's spec and seed (this run saved no initial weights)"
    log.info("run %d: %s", rm.run_id, rm.init_source)


def run_batches(rm: RunModel, samples: int, batch_size: int) -> Batches:
    """The first ``samples`` of a seeded shuffle of the run's training set, without augmentation, on the device."""
    x, y = pick_samples(rm.data.x_train, rm.data.y_train, samples)
    device = next(rm.model.parameters()).device
    batches = Batches.of(x, y, batch_size, device)
    prepare_model(rm.model, batches)
    return batches
