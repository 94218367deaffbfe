"""The errors a user can meet. Each names where the problem is, what was expected and what was received.

`SpecError` carries a field path (``stages[1].width``), `ShapeError` a node name
(``stage2.block0.add``), so the UI can highlight the offending field or node.
"""

from __future__ import annotations

from engine.core.text import bounded, shown

_where = shown  # a field path or node name in a message: as is when short and printable, else bounded


class SkipLabError(Exception):
    """Base class of every error the CLI and the dashboard show as a plain message."""


class SpecError(SkipLabError, ValueError):
    """A spec that does not validate. `path` is the dotted field path, or '' for the whole spec."""

    def __init__(self, path: str, message: str) -> None:
        self.path = path
        self.message = bounded(str(message))
        super().__init__(bounded(f"{_where(str(path))}: {self.message}" if path else self.message))


class ShapeError(SkipLabError, ValueError):
    """Shapes that do not fit at a node: `expected` vs `received`, and a `hint` that names a fix."""

    def __init__(self, node: str, message: str, *, expected: object = None, received: object = None,
                 hint: str = "") -> None:
        self.node = node
        self.message = message
        self.expected = expected
        self.received = received
        self.hint = hint
        text = f"{_where(str(node))}: {message}"
        if hint:
            text += f"; {hint}"
        super().__init__(bounded(text))


class RegistryError(SkipLabError, KeyError):
    """An unknown or duplicate registry key. Lists the valid keys."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0])


class ResourceError(SkipLabError, ValueError):
    """A request that exceeds a resource limit. The message shows the numbers, the limit and a fix."""
