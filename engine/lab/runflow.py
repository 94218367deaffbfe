"""Gradient flow of stored runs: a run's layers and ``grad_norm`` matrix from the store as
`engine.analysis.gradflow.LayerGrads`, and the sentences Compare shows about several runs."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from engine.analysis.gradflow import LayerGrads, describe_runs, layer_grads
from engine.store import RunStore


def stored_grads(store: RunStore, run_id: int, label: str) -> LayerGrads:
    steps, matrix = store.get_layer_matrix(run_id, "grad_norm")
    return layer_grads(label, store.get_layers(run_id), steps, matrix)


def describe_stored(store: RunStore, runs: Mapping[str, int], steps: Sequence[int | None] | None = None,
                    when: str = "at the end") -> list[str]:
    """Sentences comparing the gradient flow of ``runs`` ({label: run id}) at init and at ``steps`` (one per run,
    None: its last logged step)."""
    grads = [stored_grads(store, run_id, label) for label, run_id in runs.items()]
    return describe_runs(grads, list(steps) if steps is not None else [None] * len(grads), when)
