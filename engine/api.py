"""The engine's public API: the verbs users, the CLI and the dashboard call. `engine/__init__.py` re-exports it.

Nothing inside engine/ imports this module (`make lint` checks it): it only gathers what the layers define.
Heavy parts (the counting libraries, export, the job runner, experiments) load on first use.

    from engine import summarize, build_model
    a = summarize("resnet50")                 # Analysis: params, macs, flops, per-node rows, per-block groups
    model = build_model("resnet20", seed=0)   # a torch.fx.GraphModule whose names are the node names
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from engine.analysis import BYTES, Analysis, GroupRow, NodeRow, analyze, summarize
from engine.analysis.evaluate import Evaluation, evaluate
from engine.arch import (
    FAMILIES,
    PRESETS,
    SpecLike,
    expand,
    family_names,
    get_family,
    get_preset,
    load,
    load_spec,
    loads,
    parse,
    preset_names,
    resolve,
)
from engine.build import build_model
from engine.core.errors import RegistryError, ResourceError, ShapeError, SkipLabError, SpecError
from engine.core.text import file_stem, fmt_bytes, fmt_shape, short, si
from engine.ir.edits import removable_skips, skip_endpoints
from engine.ir.graph import INPUT, Graph, Node
from engine.ir.ops import OPS, get_op
from engine.spec import SpecBase, canonical_json, decode, dumps, save, to_dict
from engine.store import LAYER_STATS, STATUSES, RunStore, StoreError, default_store_path

if TYPE_CHECKING:  # imported on use: the cross-check pulls in the counting libraries
    from engine.analysis.compare import Comparison
    from engine.analysis.crosscheck import CrossCheck
    from engine.train.runner import JobRunner

__all__ = [
    "BYTES", "FAMILIES", "INPUT", "LAYER_STATS", "OPS", "PRESETS", "STATUSES", "Analysis", "Evaluation", "Graph",
    "GroupRow", "Node", "NodeRow", "RegistryError", "ResourceError", "RunStore", "ShapeError", "SkipLabError",
    "SpecBase", "SpecError", "SpecLike", "StoreError", "analyze", "block_costs", "build_model", "canonical_json",
    "compare", "crosscheck", "dataset_names", "decode", "default_store_path", "dumps", "evaluate", "expand",
    "export_python", "family_names", "file_stem", "fmt_bytes", "fmt_shape", "get_family", "get_op", "get_preset",
    "get_runner", "get_sweep", "list_sweeps", "load", "load_spec", "loads", "onnx_bytes", "parse", "preset_names",
    "published_figures", "removable_skips", "resolve", "run_archive", "save", "short", "si", "skip_endpoints",
    "summarize", "sweep_variant_rows", "to_dict",
]


# ---- counting ------------------------------------------------------------------------------------------------


def crosscheck(spec: SpecLike, *, input_shape: list[int] | None = None,
               tools: tuple[str, ...] = ("fvcore", "flop_counter", "torchinfo")) -> CrossCheck:
    """fvcore, FlopCounterMode and torchinfo on fresh models of the spec, reconciled with our counts
    (`engine.analysis.crosscheck.CrossCheck`). Seconds, not milliseconds: run it on request."""
    from engine.analysis.crosscheck import crosscheck as run

    return run(load_spec(spec, input_shape=input_shape), tools)


def compare(spec_a: SpecLike, spec_b: SpecLike, *, batch: int = 1, dtype: str = "float32",
            input_shape: list[int] | None = None) -> Comparison:
    """Per stage and block params / MACs / memory of two specs and the delta (`engine.analysis.compare`)."""
    from engine.analysis.compare import compare as run

    return run(spec_a, spec_b, batch=batch, dtype=dtype, input_shape=input_shape)


def block_costs(kind: str, channels: int, height: int, width: int, with_bn: bool = True) -> Any:
    """One block's costs in closed form and from the IR (`engine.analysis.blocks.BlockCosts`)."""
    from engine.analysis.blocks import block_costs as run

    return run(kind, channels, height, width, with_bn)


def published_figures() -> dict[str, tuple[int, int, str]]:
    """Preset name -> (params, MACs, source) of the published figures (REFERENCE.md)."""
    from engine.analysis.reference import PUBLISHED

    return PUBLISHED


# ---- data, training, runs ------------------------------------------------------------------------------------


def dataset_names() -> list[str]:
    from engine.data import dataset_names as names

    return names()


def get_runner(store: str | None = None, *, max_concurrent: int = 1) -> JobRunner:
    """The job runner of a store: runs train in child processes, their state lives in the store."""
    from engine.train.runner import get_runner as runner

    return runner(store, max_concurrent=max_concurrent)


def get_sweep(store: RunStore, sweep_id: int) -> dict[str, Any]:
    from engine.store.sweeps import get_sweep as get

    return get(store, sweep_id)


def list_sweeps(store: RunStore) -> list[dict[str, Any]]:
    from engine.store.sweeps import list_sweeps as sweeps

    return sweeps(store)


def sweep_variant_rows(store: RunStore, sweep: dict[str, Any]) -> list[dict[str, Any]]:
    from engine.lab.sweeps.results import variant_rows

    return variant_rows(store, sweep)


def __getattr__(name: str) -> Any:
    # `engine.api.experiments`: the experiments package (recipes, driver, records), loaded on first use.
    if name == "experiments":
        from engine.lab import experiments

        return experiments
    raise AttributeError(f"module 'engine.api' has no attribute {name!r}")


# ---- export --------------------------------------------------------------------------------------------------


def export_python(spec: SpecLike | Graph) -> str:
    """The source of one standalone .py file defining the model (imports only torch)."""
    from engine.export.pycode import export_python as export

    return export(spec)


def onnx_bytes(spec: SpecLike) -> bytes:
    from engine.export.onnx_export import onnx_bytes as export

    return export(spec)


def run_archive(store: RunStore, run_id: int, fmt: str = "csv") -> bytes:
    """A zip of a run's tidy tables (metrics, layer_stats, layers) as CSV or Parquet."""
    from engine.export.runs import run_archive as archive

    return archive(store, run_id, fmt)
