"""Lesions at test time (Veit et al. 2016, "Residual Networks Behave Like Ensembles of Relatively Shallow
Networks", sec. 4): delete blocks from a trained net without retraining and measure what is left.

- residual block: keep only the shortcut. The merge's output is replaced by its shortcut input, so the
  block computes relu(S(x)) post-activation (= x for an identity shortcut, since x >= 0 after the previous
  ReLU) and S(x) pre-activation; a downsampling block keeps its zero-pad or projection shortcut.
- plain block: the block's output is replaced by its input, possible only where the two shapes agree; a
  block that changes the shape (stride 2, more channels) is reported as not removable.

The rewrite happens on a copy of the built fx graph (``replace_all_uses_with``, then dead-code
elimination); the copy shares the trained modules, so weights load once.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from torch import fx

from engine.ir.graph import Graph
from engine.ir.residual import Block, find_blocks
from engine.train.probes.shortcut_share import fx_name, fx_nodes


def removable(block: Block) -> bool:
    return block.residual or block.shape_preserving


def lesioned(model: fx.GraphModule, blocks: list[Block]) -> fx.GraphModule:
    """A model computing ``model`` with ``blocks`` deleted; ValueError for a block that cannot be removed."""
    g = copy.deepcopy(model.graph)
    nodes = fx_nodes(g)
    for b in blocks:
        if b.residual:
            assert b.add is not None and b.shortcut is not None
            nodes[fx_name(b.add)].replace_all_uses_with(nodes[fx_name(b.shortcut)])
        elif b.shape_preserving:
            nodes[fx_name(b.output)].replace_all_uses_with(nodes[fx_name(b.input)])
        else:
            raise ValueError(f"{b.name} changes the shape of its input and has no shortcut, so it cannot be removed")
    gm = fx.GraphModule(model, g)
    gm.graph.eliminate_dead_code()  # the deleted branch's modules are not run (needs the owning module)
    gm.graph.lint()
    gm.recompile()
    return gm


@torch.no_grad()
def accuracy(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, batch: int = 250) -> float:
    model.eval()
    correct = 0
    for i in range(0, len(x), batch):
        correct += int((model(x[i:i + batch]).argmax(1) == y[i:i + batch]).sum())
    return correct / max(1, len(x))


def load_trained(spec: dict, weights: str | Path) -> tuple[fx.GraphModule, Graph]:
    """Build the run's spec and load its saved state_dict (engine.train.record: summary ``weights_path``)."""
    from engine.arch import expand
    from engine.build import build

    graph = expand(spec)
    model = build(graph, "cpu")
    state = torch.load(str(weights), map_location="cpu", weights_only=True)
    model.load_state_dict(state)
    model.eval()
    return model, graph


def k_grid(n: int, most: int | None = None) -> list[int]:
    """Numbers of blocks to delete at once: 1, 2, 3, 5, 8, 12, 16, 20, 24, ... up to ``most`` (default n), always
    ending at it, so a deep net is probed across the whole range with a few dozen evaluations (Veit et al. fig. 5a
    deletes 1 to 20 of ResNet-110's 54 modules)."""
    top = n if most is None else min(n, most)
    grid = [k for k in (1, 2, 3, 5, 8, 12, 16, 20) if k <= top]
    k = 24
    while k < top:
        grid.append(k)
        k += 4
    if top >= 1 and (not grid or grid[-1] != top):
        grid.append(top)
    return grid


def lesion_study(model: fx.GraphModule, graph: Graph, x: torch.Tensor, y: torch.Tensor, *, draws: int = 5,
                 seed: int = 0, report: Callable[[str], None] | None = None, ks: list[int] | None = None) -> dict:
    """Validation accuracy with each block deleted, and with k random removable blocks deleted (``ks``, default
    every k = 1..n; ``draws`` random sets each, all sets when there are fewer)."""
    blocks = find_blocks(graph)
    base = accuracy(model, x, y)
    single = []
    for i, b in enumerate(blocks):
        if report:
            report(f"deleting block {i + 1}/{len(blocks)}")
        acc = accuracy(lesioned(model, [b]), x, y) if removable(b) else None
        single.append({"block": b.name, "removable": removable(b), "residual": b.residual,
                       "downsampling": not b.shape_preserving, "acc": acc})
    cands = [b for b in blocks if removable(b)]
    rng = np.random.default_rng(seed)
    out_k, mean, std = [], [], []
    for k in (ks if ks is not None else range(1, len(cands) + 1)):
        if k > len(cands):
            continue
        if report:
            report(f"deleting {k} random blocks of {len(cands)}")
        sets = _subsets(len(cands), k, draws, rng)
        accs = [accuracy(lesioned(model, [cands[j] for j in s]), x, y) for s in sets]
        out_k.append(k)
        mean.append(float(np.mean(accs)))
        std.append(float(np.std(accs)))
    return {"base_acc": base, "blocks": single, "k": out_k, "k_mean": mean, "k_std": std,
            "n_blocks": len(blocks), "n_removable": len(cands)}


def _subsets(n: int, k: int, draws: int, rng: np.random.Generator) -> list[tuple[int, ...]]:
    """``draws`` distinct random k-subsets of range(n) (fewer when C(n, k) is smaller)."""
    from math import comb

    want = min(draws, comb(n, k))
    seen: set[tuple[int, ...]] = set()
    while len(seen) < want:
        seen.add(tuple(sorted(rng.choice(n, size=k, replace=False).tolist())))
    return sorted(seen)
