"""The engine's public API: spec (or preset name, or file) -> graph -> analysis / model.

The dashboard and the CLI go through these functions only.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from torch import fx

from engine.analysis import Analysis, analyze
from engine.build import build
from engine.edits import apply_edits
from engine.families import get_expander
from engine.graph import Graph, infer_shapes
from engine.presets import resolve
from engine.spec import SpecBase, parse, to_dict

if TYPE_CHECKING:  # imported on use: the cross-check pulls in the counting libraries
    from engine.compare import Comparison
    from engine.crosscheck import CrossCheck

SpecLike = str | Path | SpecBase | dict[str, Any]


def load_spec(spec: SpecLike, *, input_shape: list[int] | None = None) -> SpecBase:
    """Resolve a preset name / file / dict into a validated spec, optionally with another input shape."""
    parsed = resolve(spec)
    if input_shape is not None:
        parsed = parse({**to_dict(parsed), "input": list(input_shape)})
    return parsed


def expand(spec: SpecLike) -> Graph:
    """Expand a spec into its graph, with its connectivity edits applied and shapes checked."""
    parsed = resolve(spec)
    graph = get_expander(parsed.family)(parsed)
    graph = apply_edits(graph, parsed.edits)
    infer_shapes(graph)
    return graph


def summarize(spec: SpecLike, *, batch: int = 1, input_shape: list[int] | None = None,
              dtype: str = "float32") -> Analysis:
    return analyze(expand(load_spec(spec, input_shape=input_shape)), batch=batch, dtype=dtype)


def build_model(spec: SpecLike, device: str | torch.device = "cpu", *, seed: int | None = None) -> fx.GraphModule:
    return build(expand(spec), device, seed=seed)


def crosscheck(spec: SpecLike, *, input_shape: list[int] | None = None,
               tools: tuple[str, ...] = ("fvcore", "flop_counter", "torchinfo")) -> CrossCheck:
    """fvcore, FlopCounterMode and torchinfo on fresh models of the spec, reconciled with our counts
    (`engine.crosscheck.CrossCheck`). Seconds, not milliseconds: run it on request."""
    from engine.crosscheck import crosscheck as run

    return run(load_spec(spec, input_shape=input_shape), tools)


def compare(spec_a: SpecLike, spec_b: SpecLike, *, batch: int = 1, dtype: str = "float32",
            input_shape: list[int] | None = None) -> Comparison:
    """Per stage and block params / MACs / memory of two specs and the delta (`engine.compare.Comparison`)."""
    from engine.compare import compare as run

    return run(spec_a, spec_b, batch=batch, dtype=dtype, input_shape=input_shape)

