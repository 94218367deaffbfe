"""Probes: extra measurements taken during training and logged as scalar metrics.

A run names its probes in its config (``probes: [shortcut_share]``, every ``probe_every`` steps), so a
probe also runs in a job-runner child process, which rebuilds everything from the stored config. A probe
is measured at init (step 0), before every ``probe_every``-th update (logged at the step it reflects:
the weights after that many updates) and after the last step.

A probe factory gets a `ProbeContext` (graph, the live model, the task, a fixed probe batch) and returns
a function of no arguments giving ``{metric key: value}``. Probes must not change training: the runner
restores every buffer (BatchNorm running statistics) and the random generators afterwards, and a probe
computes gradients with ``torch.autograd.grad`` on its own tensors, never into ``param.grad``. So a run
with probes follows the same trajectory as one without (tested).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from engine.core.errors import SpecError
from engine.core.registry import Registry
from engine.core.text import short
from engine.ir.graph import Graph

Measure = Callable[[], dict[str, float]]


@dataclass
class ProbeContext:
    graph: Graph
    model: nn.Module
    task: object  # engine.train.tasks.Task: .loss(out, y)
    x: torch.Tensor  # a fixed probe batch, the first samples of the training set
    y: torch.Tensor


ProbeFactory = Callable[[ProbeContext], Measure]
PROBES: Registry[ProbeFactory] = Registry("probe")
PROBE_BATCH = 64


def register_probe(name: str) -> Callable[[ProbeFactory], ProbeFactory]:
    def deco(factory: ProbeFactory) -> ProbeFactory:
        PROBES.register(name, factory, where=f"{factory.__module__}.{factory.__name__}")
        return factory
    return deco


def probe_names() -> list[str]:
    return sorted(PROBES.names())


def get_probe(name: str) -> ProbeFactory:
    if name not in PROBES:
        raise SpecError("config.probes", f"unknown probe {short(name)}; valid probes: {', '.join(probe_names())}")
    return PROBES.get(name)


class ProbeRunner:
    """The probes of one run, measured without side effects on training."""

    def __init__(self, names: list[str], ctx: ProbeContext) -> None:
        self.ctx = ctx
        self.measures = [get_probe(n)(ctx) for n in names]

    def __call__(self) -> dict[str, float]:
        model = self.ctx.model
        saved = {n: b.detach().clone() for n, b in model.named_buffers()}
        dev = self.ctx.x.device
        devices = [dev.index or 0] if dev.type == "cuda" else []
        values: dict[str, float] = {}
        try:
            with torch.random.fork_rng(devices=devices):
                for measure in self.measures:
                    values.update(measure())
        finally:
            with torch.no_grad():
                for n, b in model.named_buffers():
                    b.copy_(saved[n])
        return values


def make_probe_runner(names: list[str], graph: Graph, model: nn.Module, task: object, x_train: torch.Tensor,
                      y_train: torch.Tensor) -> ProbeRunner | None:
    if not names:
        return None
    n = min(PROBE_BATCH, len(x_train))
    return ProbeRunner(names, ProbeContext(graph, model, task, x_train[:n], y_train[:n]))
