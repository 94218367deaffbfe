"""Named presets as data: each is a spec dict (architectures are data, not code paths), registered by its
family's module (`engine.arch.families`); this module only stores and looks them up."""

from __future__ import annotations

import copy
from typing import Any

from engine.core.registry import Registry

PRESETS: Registry[dict[str, Any]] = Registry("preset")


def register_preset(name: str, spec: dict[str, Any]) -> None:
    PRESETS.register(name, {"name": name, **spec})


def preset_names() -> list[str]:
    return PRESETS.names()


def preset_dict(name: str) -> dict[str, Any]:
    """A copy of the preset's spec data (unvalidated; `engine.arch.specs.get_preset` validates it)."""
    return copy.deepcopy(PRESETS.get(name))
