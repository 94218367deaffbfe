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
from engine.core.errors import RegistryError, ResourceError, ShapeError, SkipLabError, SpecError
from engine.core.text import file_stem, fmt_bytes, fmt_shape, short, si
from engine.ir.edits import apply_edits, removable_skips, skip_endpoints
from engine.ir.graph import INPUT, Graph, Node, infer_shapes
from engine.ir.ops import KINDS, OPS, REQUIRED, UNKNOWN, get_op, kind_of, numel
from engine.spec import Edit, SpecBase, canonical_json, decode, dumps, save, to_dict
from engine.store import LAYER_STATS, STATUSES, RunStore, StoreError, default_store_path

if TYPE_CHECKING:  # imported on use: building pulls in torch, the cross-check the counting libraries
    from torch import fx

    from engine.analysis.compare import Comparison
    from engine.analysis.crosscheck import CrossCheck
    from engine.lab.landscape.options import LandscapeOptions
    from engine.lab.landscape.shatter import ShatterOptions
    from engine.store.landscapes import LandscapeStore
    from engine.train.runner import JobRunner

__all__ = [
    "Analysis", "BYTES", "Edit", "Evaluation", "FAMILIES", "Graph", "GroupRow", "INPUT", "KINDS", "LAYER_STATS",
    "Node", "NodeRow", "OPS", "PRESETS", "REQUIRED", "RegistryError", "ResourceError", "RunStore", "STATUSES",
    "ShapeError", "SkipLabError", "SpecBase", "SpecError", "SpecLike", "StoreError", "analyze", "apply_edits",
    "block_costs", "build_model", "cancel_landscape", "canonical_json", "check_checkpoint", "compare",
    "compare_landscapes", "crosscheck", "dataset_names", "dataset_options", "decode", "default_store_path",
    "derived_name", "describe_changes", "describe_landscape", "describe_shatter", "dumps", "evaluate", "expand",
    "export_python", "family_names", "file_stem", "fmt_bytes", "fmt_shape", "freeze_choices", "get_family",
    "get_histograms", "get_op", "get_preset", "get_runner", "get_samples", "get_sweep", "gradient_flow_text",
    "histogram_stats", "infer_shapes", "kind_colour", "landscape", "landscape_job", "landscape_options",
    "landscape_store", "launch_landscape", "launch_shatter", "list_landscapes", "list_sweeps", "load", "load_spec",
    "loads", "numel", "onnx_bytes", "op_kind", "parse", "preset_names", "published_figures", "removable_skips",
    "rename_run", "resolve", "run_archive", "run_meta", "save", "set_run_notes", "set_run_tags", "shatter", "short",
    "si", "skip_endpoints", "summarize", "sweep_variant_rows", "to_dict",
]


# ---- ops ------------------------------------------------------------------------------------------------------


def op_kind(op: str) -> str:
    """The kind of a registered op (conv, norm, merge ...); "unknown" for a name the registry lacks."""
    return get_op(op).kind if op in OPS else UNKNOWN.name


def kind_colour(kind: str) -> str:
    """The colour (``#rrggbb``) the engine gives a kind of op; `UNKNOWN`'s for a kind it does not know."""
    return kind_of(kind).colour


def build_model(spec: SpecLike, device: str = "cpu", *, seed: int | None = None) -> fx.GraphModule:
    """A preset name, spec file, dict or spec -> its torch.fx.GraphModule on `device` (imports torch now)."""
    from engine.build import build_model as build

    return build(spec, device, seed=seed)


# ---- counting ------------------------------------------------------------------------------------------------


def crosscheck(spec: SpecLike, *, input_shape: list[int] | None = None,
               tools: tuple[str, ...] = ("fvcore", "flop_counter", "torchinfo"), isolate: bool = False) -> CrossCheck:
    """fvcore, FlopCounterMode and torchinfo on fresh models of the spec, reconciled with our counts
    (`engine.analysis.crosscheck.CrossCheck`). Seconds, not milliseconds: run it on request. `isolate` runs it
    in a child process, as a server must: the libraries need process-wide settings (threads, warnings)."""
    from engine.analysis import crosscheck as cc

    parsed = load_spec(spec, input_shape=input_shape)
    return cc.crosscheck_isolated(to_dict(parsed), tools) if isolate else cc.crosscheck(parsed, tools)


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


def dataset_options(name: str) -> dict[str, Any]:
    """The options a dataset accepts and their defaults (``flatten``, ``size``, ``train_size`` ...)."""
    from engine.data import dataset_options as options

    return options(name)


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


def gradient_flow_text(store: RunStore, runs: dict[str, int], steps: list[int | None] | None = None,
                       when: str = "at the end") -> list[str]:
    """Sentences comparing the gradient flow of ``runs`` ({label: run id}) at init and at ``steps`` (one per run;
    None: its last logged step): how much of the last layer's gradient reaches the first, and where they differ."""
    from engine.lab.runflow import describe_stored

    return describe_stored(store, runs, steps, when)


def warm_up() -> None:
    """Import what training, export and the cross-check need (torch, the model builder, the trainer, the job
    runner), so that their first use does not pay for it. The dashboard calls it on a background thread."""
    import engine.build  # noqa: F401
    import engine.train.runner  # noqa: F401


__all__ += ["warm_up"]  # kept apart from the list above, which other branches reorder


def __getattr__(name: str) -> Any:
    # `engine.api.experiments`: the experiments package (recipes, driver, records); `engine.api.lessons`: the
    # guided pairs (definitions, start, results). Loaded on first use.
    if name == "experiments":
        from engine.lab import experiments

        return experiments
    if name == "lessons":
        from engine.lab import lessons

        return lessons
    raise AttributeError(f"module 'engine.api' has no attribute {name!r}")


# ---- loss landscapes and shattered gradients (engine.lab.landscape) -------------------------------------------


def landscape(run_id: int, options: LandscapeOptions | dict[str, Any] | None = None, *, store: str | None = None,
              save: bool = True, should_stop: Any = None) -> dict[str, Any] | None:
    """A run's loss surface computed in this process (Li et al. 2018), stored with the run unless ``save`` is
    False: ``{"dim", "alphas", "betas", "loss", "center_loss", "measures", "hessian", ...}``; None if stopped."""
    from engine.lab.landscape.record import run_landscape
    from engine.lab.landscape.surface import SurfaceDone

    result = None
    for ev in run_landscape(store, run_id, options, save=save, should_stop=should_stop):
        if isinstance(ev, SurfaceDone):
            result = ev.result
    return result


def landscape_options() -> tuple[type[LandscapeOptions], type[ShatterOptions]]:
    """The option models of a surface and of a shattering measure (for forms: fields, defaults, descriptions)."""
    from engine.lab.landscape.options import LandscapeOptions
    from engine.lab.landscape.shatter import ShatterOptions

    return LandscapeOptions, ShatterOptions


def launch_landscape(run_id: int, options: LandscapeOptions | dict[str, Any] | None = None,
                     store: str | None = None) -> int:
    """Compute a run's surface in a detached child process; returns the landscape's id (poll `landscape_job`)."""
    from engine.lab.landscape.jobs import launch_surface

    return launch_surface(store, run_id, options)


def launch_shatter(specs: list[SpecLike], options: ShatterOptions | dict[str, Any] | None = None,
                   store: str | None = None) -> int:
    """The shattering measures of specs at initialisation, in a detached child process; returns the id."""
    from engine.lab.landscape.jobs import launch_shatter as launch

    return launch(store, specs, options)


def landscape_job(job_id: int, store: str | None = None) -> dict[str, Any] | None:
    """A landscape record: status, progress (0-1), phase, error and, once done, the result."""
    from engine.lab.landscape.jobs import job

    return job(job_id, store)


def cancel_landscape(job_id: int, store: str | None = None) -> str:
    from engine.lab.landscape.jobs import cancel

    return cancel(job_id, store)


def landscape_store(store: str | None = None) -> LandscapeStore:
    """The landscapes table of a run store (``list``, ``get``, ``latest``, ``delete``)."""
    from engine.store.landscapes import LandscapeStore

    return LandscapeStore(store)


def list_landscapes(store: str | None = None, run_id: int | None = None, kind: str | None = None
                    ) -> list[dict[str, Any]]:
    return landscape_store(store).list(run_id, kind)


def shatter(spec: SpecLike, options: ShatterOptions | dict[str, Any] | None = None) -> dict[str, Any]:
    """Input-gradient autocorrelation of a spec at initialisation (Balduzzi et al. 2017), in this process."""
    from engine.lab.landscape.shatter import shatter as measure

    return measure(spec, options)


def describe_landscape(result: dict[str, Any]) -> str:
    """A paragraph on one surface, computed from its numbers."""
    from engine.lab.landscape.conclusion import describe_surface

    return describe_surface(result)


def compare_landscapes(a: dict[str, Any], b: dict[str, Any]) -> str:
    from engine.lab.landscape.conclusion import compare_surfaces

    return compare_surfaces(a, b)


def describe_shatter(result: dict[str, Any]) -> str:
    from engine.lab.landscape.conclusion import describe_shatter as describe

    return describe(result)


# ---- what a person writes about a run; its spec in words -------------------------------------------------------


def rename_run(store: RunStore, run_id: int, name: str) -> str:
    from engine.store.meta import rename_run as rename

    return rename(store, run_id, name)


def set_run_tags(store: RunStore, run_id: int, tags: list[str] | str) -> list[str]:
    """Replace a run's tags (a list, or comma-separated text); returns them cleaned."""
    from engine.store.meta import set_tags

    return set_tags(store, run_id, tags)


def set_run_notes(store: RunStore, run_id: int, notes: str) -> str:
    from engine.store.meta import set_notes

    return set_notes(store, run_id, notes)


def run_meta(store: RunStore, run_ids: list[int] | None = None) -> dict[int, dict[str, Any]]:
    """``{run_id: {"tags": [...], "notes": "..."}}`` for runs that have any."""
    from engine.store.meta import get_meta

    return get_meta(store, run_ids)


def describe_changes(spec_a: SpecLike | dict[str, Any], spec_b: SpecLike | dict[str, Any]) -> list[str]:
    """What changes from spec A to spec B, in words: ``["shortcut A → none", "stage3 blocks 3 → 9"]``."""
    from engine.analysis.specdiff import describe_changes as describe

    return describe(spec_a, spec_b)


def derived_name(spec: SpecLike | dict[str, Any]) -> str:
    """A run's readable name from its spec's difference to its preset: ``"resnet20 · shortcut none"``."""
    from engine.analysis.specdiff import derived_name as name

    return name(spec)


def histogram_stats(store: RunStore, run_id: int) -> list[str]:
    """Which per-layer distributions a run recorded (``grad_hist``, ``weight_hist``, ``update_hist``)."""
    from engine.store.snapshots import histogram_stats as stats

    return stats(store, run_id)


def get_histograms(store: RunStore, run_id: int, stat: str) -> tuple[Any, Any, Any]:
    """``(steps [T], log10 bin edges [bins + 1], fractions [T, layers, bins])`` of one recorded distribution."""
    from engine.store.snapshots import get_histograms as get

    return get(store, run_id, stat)


def get_samples(store: RunStore, run_id: int, kind: str) -> list[tuple[int, Any]]:
    """A segmentation run's validation images: ``input``, ``truth`` (step 0) and ``pred`` (by step), uint8."""
    from engine.store.snapshots import get_samples as get

    return get(store, run_id, kind)


# ---- transfer learning ---------------------------------------------------------------------------------------


def check_checkpoint(spec: SpecLike, source: str, *, store: RunStore | None = None, new_head: bool = False) -> Any:
    """How a checkpoint (a local file, or ``run:ID`` of ``store``) maps onto the spec's model: an
    `engine.export.checkpoints.TransferReport` (``.text()``, ``.to_json()``, ``.complete``). Nothing is trained."""
    from engine.export.checkpoints import load_checkpoint
    from engine.train.transfer import is_reference, resolve_source

    if is_reference(source):
        path = resolve_source(store if store is not None else RunStore(), source)
        return load_checkpoint(load_spec(spec), path, new_head=new_head, trusted=True)
    return load_checkpoint(load_spec(spec), source, new_head=new_head)


def freeze_choices(spec: SpecLike) -> list[str]:
    """What ``freeze`` accepts for this spec: stem, stage1 ... stageN, backbone; empty for a spec without stages."""
    from engine.train.transfer import freeze_choices as choices

    return choices(expand(load_spec(spec)))


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
