"""One module per family; each expands a validated spec into a Graph and registers itself (its spec model,
its presets, any ops of its own) on import. Importing this package imports every module in it."""

from __future__ import annotations

import importlib
import pkgutil

from engine import ops_extra  # noqa: F401  (ops of the connectivity families: attention, gates ...)
from engine.families.registry import FAMILIES, get_expander

for _m in pkgutil.iter_modules(__path__):
    if _m.name != "registry":
        importlib.import_module(f"engine.families.{_m.name}")

__all__ = ["FAMILIES", "get_expander"]
