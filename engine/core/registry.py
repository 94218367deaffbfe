"""The one registry type: string keys to definitions (ops, blocks, families, presets, datasets, experiments ...).

As timm's ``_model_entrypoints``: registering a name twice is an error that names both definitions, and an
unknown key is an error that lists the valid keys. Every registry of the engine is a `Registry`, so they all
fail the same way (`RegistryError`, a `SkipLabError`: bad input to the CLI, a plain message in the UI).
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from typing import Generic, TypeVar

from engine.core.errors import RegistryError
from engine.core.text import short

T = TypeVar("T")


def _caller(depth: int) -> str:
    """'engine/arch/families/resnet.py:120' of the code that registered a definition."""
    frame = sys._getframe(depth)  # noqa: SLF001 - the cheapest way to name where a definition came from
    return f"{frame.f_code.co_filename.rsplit('/engine/', 1)[-1]}:{frame.f_lineno}"


class Registry(Generic[T]):
    """An ordered mapping of names to definitions of one kind (``what``: "op", "block", "family" ...)."""

    def __init__(self, what: str) -> None:
        self.what = what
        self._items: dict[str, T] = {}
        self._where: dict[str, str] = {}

    def register(self, name: str, item: T, *, where: str | None = None) -> T:
        """Add a definition; `where` (default: the caller's file and line) is named if the name comes back."""
        where = where or _caller(2)
        if name in self._items:
            raise RegistryError(f"{self.what} {name!r} is registered twice: first at {self._where[name]}, "
                                f"again at {where}; rename one of them")
        self._items[name] = item
        self._where[name] = where
        return item

    def get(self, name: str) -> T:
        try:
            return self._items[name]
        except (KeyError, TypeError):
            raise RegistryError(f"unknown {self.what} {short(name)}; valid: {', '.join(sorted(self._items))}") from None

    def where(self, name: str) -> str:
        """Where a definition was registered (file:line)."""
        self.get(name)
        return self._where[name]

    def names(self) -> list[str]:
        """Names in registration order."""
        return list(self._items)

    def items(self) -> list[tuple[str, T]]:
        return list(self._items.items())

    def values(self) -> list[T]:
        return list(self._items.values())

    def __contains__(self, name: object) -> bool:
        return name in self._items

    def __getitem__(self, name: str) -> T:
        return self.get(name)

    def __iter__(self) -> Iterator[str]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def __repr__(self) -> str:
        return f"Registry({self.what!r}, {len(self)} entries)"
