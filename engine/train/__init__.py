"""Training: config, the training loop as an event generator, gradient-flow monitor, health checks,
recording to the run store and the job runner the dashboard uses.

    from engine.train import train, submit
    for ev in train("resnet20", {"dataset": "shapes", "steps": 400}): ...   # in this process
    run_id = submit("resnet20", {"dataset": "shapes"}, store_path)          # in a child process

Attributes load lazily (PEP 562), so `engine.train.worker` can be imported in a fresh process without
pulling in torch before it has set its OpenMP environment.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "TrainConfig": "config", "parse_config": "config",
    "ACT_STATS": "events", "FINAL_STATUSES": "events", "GRAD_STATS": "events", "STATUSES": "events",
    "Alert": "events", "Done": "events", "Event": "events", "Layer": "events", "LayerStats": "events",
    "Metrics": "events", "Started": "events",
    "create_run": "record", "record": "record", "run_and_record": "record", "weights_path": "record",
    "JobRunner": "runner", "cancel": "runner", "get_runner": "runner", "status": "runner", "submit": "runner",
    "prepare": "trainer", "train": "trainer",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'engine.train' has no attribute {name!r}")
    return getattr(importlib.import_module(f"engine.train.{_EXPORTS[name]}"), name)
