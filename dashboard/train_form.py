"""The Train page's form logic: the chosen architecture, the dataset (and options) it trains on as it is, the "start
from a checkpoint" options as config keys, and the text that tells what a run was initialised from. No Streamlit
here."""

from __future__ import annotations

import math
from typing import Any

from engine.api import RunStore, SkipLabError, loads, parse

# The spec loader's cap (engine.spec.loader.MAX_SPEC_BYTES), refused here by size before decoding. Streamlit's own
# upload cap (server.maxUploadSize) is whole MB only, so its "Limit 1MB" is the transport's; the label says this one.
MAX_UPLOAD = 512 * 1024
MAX_UPLOAD_TEXT = "512 KB"
INIT_SOURCES = ("Fresh initialisation", "Checkpoint file", "A previous run")
FREEZE_CHOICES = ("nothing", "stem", "stage1", "stage2", "stage3", "stage4", "backbone")


def chosen_spec(source: str, preset: str, upload: Any, built: dict[str, Any] | None) -> Any:
    """The spec of the form: the Build page's (``built``), an uploaded file, or a preset name."""
    if source == "Spec being built":
        if built is None:
            raise SkipLabError("no spec is being built yet: open the Build page first, or pick a preset")
        return parse(built)
    if source == "File":
        if upload is None:
            raise SkipLabError("choose a spec file first")
        if upload.size > MAX_UPLOAD:
            raise SkipLabError(f"{upload.name} is {upload.size:,} bytes; a spec file is at most {MAX_UPLOAD_TEXT} "
                               f"({MAX_UPLOAD:,} bytes)")
        return loads(upload.getvalue().decode("utf-8", errors="replace"),
                     "json" if upload.name.endswith(".json") else "yaml")
    return preset


def suggested_dataset(input_shape: list[int], output_shape: list[int], family: str, datasets: list[str]) -> str:
    """The built-in dataset an architecture trains on as it is: a mask output -> shapes_seg, token input ->
    sequence, a vector of 64 features -> digits (8x8, flattened), else shapes (3x32x32 images)."""
    if len(output_shape) == 3:
        choice = "shapes_seg"
    elif family == "transformer":
        choice = "sequence"
    elif len(input_shape) == 1:
        choice = "digits"
    else:
        choice = "shapes"
    return choice if choice in datasets else datasets[0]


def auto_options(options: dict[str, Any], input_shape: list[int]) -> dict[str, Any]:
    """Dataset options that make the data fit the architecture: ``flatten`` images for a vector input (an MLP),
    ``size`` = the input's height for square images. Only options the dataset has; the user can change them."""
    out: dict[str, Any] = {}
    if len(input_shape) == 1 and "flatten" in options:
        out["flatten"] = True
        side = math.isqrt(int(input_shape[0]))
        if "size" in options and side * side == int(input_shape[0]):  # one-channel images of side x side
            out["size"] = side
    if len(input_shape) == 3 and input_shape[1] == input_shape[2] and "size" in options:
        out["size"] = int(input_shape[1])
    return out


def runs_with_weights(store: RunStore) -> dict[int, str]:
    """Finished runs that saved weights, newest first: id -> label (what ``init_from: run:ID`` can start from)."""
    out = {}
    for r in store.list_runs():
        if (r.get("summary") or {}).get("weights_path") and r["status"] in ("done", "cancelled"):
            out[int(r["id"])] = f"#{r['id']} {r.get('name') or ''} ({r.get('dataset')}, {r['status']})"
    return out


def init_source(kind: str, path: str, run_id: int | None) -> str | None:
    """The ``init_from`` value of the form's choice, or None for a fresh initialisation."""
    if kind == INIT_SOURCES[1]:
        if not path.strip():
            raise SkipLabError("give the path of a local checkpoint file (.pth, .pt or .safetensors)")
        return path.strip()
    if kind == INIT_SOURCES[2]:
        if run_id is None:
            raise SkipLabError("no finished run with saved weights yet: train one first, or pick a checkpoint file")
        return f"run:{run_id}"
    return None


def init_config(source: str | None, freeze: str, new_head: bool, lr_scale: float) -> dict[str, Any]:
    """The training-config keys of the checkpoint options (engine.train.transfer)."""
    cfg: dict[str, Any] = {}
    if source is not None:
        cfg["init_from"] = source
        if new_head:
            cfg["new_head"] = True
        if lr_scale != 1.0:
            cfg["loaded_lr_scale"] = float(lr_scale)
    if freeze != "nothing":
        cfg["freeze"] = freeze
    return cfg


def init_headline(init: dict[str, Any]) -> str:
    """'Started from run:3 (SkipLab layout): loaded 42 of 44 tensors; head new; frozen: 6 layers, 4,848 params'."""
    parts = []
    if init.get("from"):
        parts.append(f"Started from {init['from']} ({init.get('layout') or 'unknown'} layout): loaded "
                     f"{init.get('loaded', 0)} of {init.get('model_tensors', 0)} tensors"
                     + ("; head new" if init.get("head_new") else ""))
    if init.get("frozen_modules"):
        parts.append(f"frozen: {len(init['frozen_modules'])} layers, {init.get('frozen_params', 0):,} parameters "
                     f"(drawn grey; no gradient by design); training {init.get('trainable_params', 0):,}")
    return "; ".join(parts)
