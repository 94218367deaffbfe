"""Shared helpers for the training tests: tiny specs, tiny data, event collection."""

from __future__ import annotations

from collections.abc import Iterator
from functools import lru_cache
from typing import Any

import numpy as np
import pytest
import torch

from engine.data import Dataset, load_dataset
from engine.train.events import Done, Event, LayerStats, Metrics

FAST = {"device": "cpu", "val_every": 0, "act_every": 0, "batch_size": 16}


@pytest.fixture(autouse=True, scope="module")
def one_torch_thread() -> Iterator[None]:
    """One intra-op thread for in-process training tests. On a loaded 2-core machine libgomp's spinning
    worker threads make 2-thread steps 10-100x slower (measured: 167 s vs 7 s for the learning test
    at load 15); one thread cannot wait on a descheduled sibling. Restored afterwards."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def mlp_graph(depth: int, *, width: int = 32, features: int = 64, classes: int = 10, residual: bool = False,
              init: str = "default") -> dict[str, Any]:
    """A plain or residual MLP (no norm) as a `graph` spec: stem.fc, body.lK.fc x (depth - 2), head.fc."""
    nodes: list[dict[str, Any]] = [{"name": "stem.fc", "op": "linear", "in": "input", "out_features": width},
                                   {"name": "stem.relu", "op": "relu", "in": "stem.fc"}]
    prev = "stem.relu"
    for i in range(depth - 2):
        nodes += [{"name": f"body.l{i}.fc", "op": "linear", "in": prev, "out_features": width},
                  {"name": f"body.l{i}.relu", "op": "relu", "in": f"body.l{i}.fc"}]
        if residual:
            nodes.append({"name": f"body.l{i}.add", "op": "add", "in": [f"body.l{i}.relu", prev]})
            prev = f"body.l{i}.add"
        else:
            prev = f"body.l{i}.relu"
    nodes.append({"name": "head.fc", "op": "linear", "in": prev, "out_features": classes})
    return {"family": "graph", "name": f"mlp{depth}", "input": [features], "nodes": nodes, "init": init}


def logreg_graph() -> dict[str, Any]:
    return {"family": "graph", "name": "logreg", "input": [3, 32, 32],
            "nodes": [{"name": "head.flatten", "op": "flatten"},
                      {"name": "head.fc", "op": "linear", "in": "head.flatten", "out_features": 10}]}


@lru_cache(maxsize=8)
def _cached(name: str, items: tuple[tuple[str, Any], ...]) -> Dataset:
    return load_dataset(name, **dict(items))


def dataset(name: str, **options: Any) -> Dataset:
    """Datasets are cached per test session (tensors are never modified by the trainer)."""
    return _cached(name, tuple(sorted(options.items())))


def collect(events: Any) -> tuple[list[Event], Done]:
    evs = list(events)
    assert isinstance(evs[-1], Done), evs[-1]
    return evs, evs[-1]


def layer_matrix(events: list[Event], stat: str) -> tuple[list[int], np.ndarray]:
    """(steps, [n_steps, n_layers]) for one statistic, from the LayerStats events."""
    steps: list[int] = []
    rows: list[np.ndarray] = []
    for ev in events:
        if isinstance(ev, LayerStats) and stat in ev.stats:
            steps += ev.steps
            rows.append(ev.stats[stat])
    return steps, (np.concatenate(rows) if rows else np.zeros((0, 0)))


def metric(events: list[Event], key: str) -> list[tuple[int, float]]:
    return [(ev.step, ev.values[key]) for ev in events if isinstance(ev, Metrics) and key in ev.values]
