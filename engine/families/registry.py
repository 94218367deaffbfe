"""Family registry: family name -> (spec model, expansion function Spec -> Graph)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from engine.errors import RegistryError
from engine.graph import Graph
from engine.spec import SpecBase

Expander = Callable[[Any], Graph]
FAMILIES: dict[str, Expander] = {}


def register_family(name: str, spec_model: type[SpecBase]) -> Callable[[Expander], Expander]:
    def deco(fn: Expander) -> Expander:
        if name in FAMILIES:
            raise RegistryError(f"family {name!r} is already registered")
        FAMILIES[name] = fn
        return fn

    return deco


def get_expander(family: str) -> Expander:
    try:
        return FAMILIES[family]
    except KeyError:
        raise RegistryError(f"unknown family {family!r}; valid: {', '.join(sorted(FAMILIES))}") from None
