"""Training: config, the training loop as an event generator, gradient-flow monitor, health checks,
recording to the run store and the job runner the dashboard uses.

    from engine.train import train, submit
    for ev in train("resnet20", {"dataset": "shapes", "steps": 400}): ...   # in this process
    run_id = submit("resnet20", {"dataset": "shapes"}, store_path)          # in a child process
"""

from engine.train.config import TrainConfig, parse_config
from engine.train.events import (
    ACT_STATS,
    FINAL_STATUSES,
    GRAD_STATS,
    STATUSES,
    Alert,
    Done,
    Event,
    Layer,
    LayerStats,
    Metrics,
    Started,
)
from engine.train.record import create_run, record, run_and_record, weights_path
from engine.train.runner import JobRunner, cancel, get_runner, status, submit
from engine.train.trainer import prepare, train

__all__ = [
    "ACT_STATS",
    "FINAL_STATUSES",
    "GRAD_STATS",
    "STATUSES",
    "Alert",
    "Done",
    "Event",
    "JobRunner",
    "Layer",
    "LayerStats",
    "Metrics",
    "Started",
    "TrainConfig",
    "cancel",
    "create_run",
    "get_runner",
    "parse_config",
    "prepare",
    "record",
    "run_and_record",
    "status",
    "submit",
    "train",
    "weights_path",
]
