"""Shortcut gradient share: how much of the gradient reaching a residual block's input comes through the
identity path rather than through the residual branch.

Definition (measured at the block input x, on one batch, model in training mode as during training):
the block computes y = S(x) + F(x) (S the identity, zero-pad or projection shortcut, F the branch). The
loss gradient reaching x is the sum of two terms, g_shortcut = (dS/dx)^T dL/dy and g_branch =
(dF/dx)^T dL/dy. We measure both separately and report

    share = ||g_shortcut|| / (||g_shortcut|| + ||g_branch||)

1.0: all of the gradient arrives through the shortcut (a branch that is switched off, e.g. a zeroed last
BatchNorm gamma); 0.5: both paths carry as much. Veit et al. 2016 ("Residual Networks Behave Like
Ensembles of Relatively Shallow Networks", sec. 5) argue the gradient of a trained residual net comes
mostly through short paths, i.e. through the shortcuts.

How: the built fx graph is copied and every block's input is read through two identity "taps", one
for the nodes on the shortcut side and one for the branch side; ``torch.autograd.grad`` of the loss with
respect to the taps gives the two terms. The taps module shares the live model's submodules, so it
always sees the current weights, and ``autograd.grad`` never writes ``param.grad``.
"""

from __future__ import annotations

import copy
import logging
from dataclasses import dataclass

import torch
from torch import fx, nn

from engine.ir.graph import INPUT, Graph
from engine.ir.residual import Block, find_blocks, input_consumers
from engine.train.probes.base import Measure, ProbeContext, register_probe

log = logging.getLogger(__name__)


def _tap(t: torch.Tensor) -> torch.Tensor:
    return t.view_as(t)  # a distinct autograd node: its gradient is the gradient through this edge only


def fx_name(ir_name: str) -> str:
    """The fx node of an IR node (engine.build names them so; the input is the placeholder ``x``)."""
    return "x" if ir_name == INPUT else ir_name.replace(".", "_")


def fx_nodes(graph: fx.Graph) -> dict[str, fx.Node]:
    return {n.name: n for n in graph.nodes}


@dataclass
class TappedModel:
    module: fx.GraphModule  # returns (output, tap_0, tap_1, ...)
    blocks: list[str]  # the measured blocks; taps 2i (shortcut side) and 2i + 1 (branch side) belong to block i


def measurable_blocks(graph: Graph) -> list[Block]:
    """Residual blocks whose input splits cleanly into a shortcut side and a branch side."""
    out = []
    for b in find_blocks(graph):
        if not b.residual:
            continue
        try:
            input_consumers(graph, b)
        except ValueError as exc:
            log.info("shortcut share: skipping %s (%s)", b.name, exc)
            continue
        out.append(b)
    return out


def tapped_model(model: fx.GraphModule, graph: Graph) -> TappedModel:
    g = copy.deepcopy(model.graph)
    nodes = fx_nodes(g)
    taps: list[fx.Node] = []
    names: list[str] = []
    for b in measurable_blocks(graph):
        short, branch = input_consumers(graph, b)
        x = nodes[fx_name(b.input)]
        for consumers in (short, branch):
            with g.inserting_after(x):
                tap = g.call_function(_tap, (x,))
            for c in consumers:
                nodes[fx_name(c)].replace_input_with(x, tap)
            taps.append(tap)
        names.append(b.name)
    out = next(n for n in g.nodes if n.op == "output")
    out.args = ((out.args[0], *taps),)
    g.lint()
    return TappedModel(fx.GraphModule(model, g), names)


def gradient_paths(tapped: TappedModel, x: torch.Tensor, y: torch.Tensor, loss_fn) -> dict[str, tuple[float, float]]:  # noqa: ANN001
    """{block: (||g_shortcut||, ||g_branch||)} on one batch."""
    if not tapped.blocks:
        return {}
    with torch.enable_grad():
        out, *taps = tapped.module(x)
        loss = loss_fn(out, y)
        grads = torch.autograd.grad(loss, taps, allow_unused=True)
    norms = torch.stack([torch.linalg.vector_norm(g.detach().double()) if g is not None
                         else torch.zeros((), dtype=torch.float64, device=x.device) for g in grads]).cpu().tolist()
    return {b: (norms[2 * i], norms[2 * i + 1]) for i, b in enumerate(tapped.blocks)}


def share_of(g_short: float, g_branch: float) -> float:
    total = g_short + g_branch
    return g_short / total if total > 0 else float("nan")


def shortcut_share(model: nn.Module, graph: Graph, x: torch.Tensor, y: torch.Tensor, loss_fn  # noqa: ANN001
                   ) -> dict[str, float]:
    """{block: share} for a built model (see the module docstring for the definition)."""
    paths = gradient_paths(tapped_model(model, graph), x, y, loss_fn)  # type: ignore[arg-type]
    return {b: share_of(gs, gb) for b, (gs, gb) in paths.items()}


# Metric keys the probe logs, per block.
SHARE, SHORTCUT_GRAD, BRANCH_GRAD = "shortcut_share:", "shortcut_grad:", "branch_grad:"


@register_probe("shortcut_share")
def _share_probe(ctx: ProbeContext) -> Measure:
    tapped = tapped_model(ctx.model, ctx.graph)  # type: ignore[arg-type]

    def measure() -> dict[str, float]:
        out: dict[str, float] = {}
        for block, (gs, gb) in gradient_paths(tapped, ctx.x, ctx.y, ctx.task.loss).items():  # type: ignore[attr-defined]
            out[SHARE + block] = share_of(gs, gb)
            out[SHORTCUT_GRAD + block] = gs
            out[BRANCH_GRAD + block] = gb
        return out

    return measure
