"""Loss landscapes of stored runs (Li et al. 2018) and shattered gradients at initialisation (Balduzzi et al. 2017).

    from engine.lab.landscape import run_landscape, shatter
    for ev in run_landscape(store_path, run_id, {"dim": 2, "grid": 21}): ...   # stored with the run
    shatter("resnet20")                                                          # {"autocorr": [...], "lag1": ...}

Modules: directions (filter-normalised directions), probe (fixed batches, the loss), surface (1-D / 2-D grids as
events), hessian (Lanczos on Hessian-vector products), measures (figures from a surface), shatter, source (a stored
run as a model), record (stored computations), jobs + worker (child processes), conclusion (words from numbers).
Names load on first use (PEP 562), so `worker` starts in a fresh process without torch.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "LandscapeOptions": "options", "parse_options": "options",
    "compute_surface": "surface", "SurfaceDone": "surface", "SurfaceProgress": "surface", "SurfaceStarted": "surface",
    "run_landscape": "record", "shatter_specs": "record", "check_surface": "record",
    "ShatterOptions": "shatter", "shatter": "shatter", "parse_shatter_options": "shatter",
    "LandscapeError": "source",
    "launch_surface": "jobs", "launch_shatter": "jobs", "job": "jobs", "cancel": "jobs",
    "describe_surface": "conclusion", "compare_surfaces": "conclusion", "describe_shatter": "conclusion",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'engine.lab.landscape' has no attribute {name!r}")
    return getattr(importlib.import_module(f"engine.lab.landscape.{_EXPORTS[name]}"), name)
