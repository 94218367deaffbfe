"""The family registry: one registration per family holds its spec model and its expander (Spec -> Graph).

A family module registers itself with `@register_family(name, SpecModel)` on its expander and its presets with
`engine.arch.presets.register_preset`; nothing else names the family (adding a family is adding a module).
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from engine.core.registry import Registry
from engine.ir.graph import Graph
from engine.spec import SpecBase

Expander = Callable[[Any], Graph]


@dataclass(frozen=True)
class Family:
    name: str
    spec_model: type[SpecBase]
    expand: Expander
    doc: str = ""


FAMILIES: Registry[Family] = Registry("family")


def register_family(name: str, spec_model: type[SpecBase]) -> Callable[[Expander], Expander]:
    def deco(fn: Expander) -> Expander:
        doc = (sys.modules[fn.__module__].__doc__ or "").strip()
        FAMILIES.register(name, Family(name, spec_model, fn, doc.splitlines()[0] if doc else ""),
                          where=f"{fn.__module__}.{fn.__name__}")
        return fn

    return deco


def get_family(name: str) -> Family:
    return FAMILIES.get(name)


def get_expander(family: str) -> Expander:
    return FAMILIES.get(family).expand


def family_names() -> list[str]:
    return sorted(FAMILIES.names())
