"""One module per family; each expands a validated spec into a Graph. Importing this package registers them."""

from __future__ import annotations

from engine.families import graph_family, resnet  # noqa: F401  (registration side effects)
from engine.families.registry import FAMILIES, get_expander

__all__ = ["FAMILIES", "get_expander"]
