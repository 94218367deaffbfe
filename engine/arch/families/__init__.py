"""One module per family; each expands a validated spec into a Graph and registers itself (its spec model,
its expander, its presets) on import. Importing this package imports every module in it."""

from __future__ import annotations

import importlib
import pkgutil

from engine.arch.families.registry import FAMILIES, Family, family_names, get_expander, get_family

# resnet first: its presets lead the preset list (resnet18 ... resnet152, then the CIFAR nets).
_OTHERS = sorted(m.name for m in pkgutil.iter_modules(__path__) if m.name not in ("resnet", "registry"))
for _name in ["resnet", *_OTHERS]:
    importlib.import_module(f"engine.arch.families.{_name}")

__all__ = ["FAMILIES", "Family", "family_names", "get_expander", "get_family"]
