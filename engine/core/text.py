"""Text for messages: bounded reprs of user values, shapes, byte sizes and SI magnitudes.

User text that reaches a message goes through `short` (a pasted megabyte must not become the message).
"""

from __future__ import annotations

import re
import reprlib
from typing import Any

_REPR = reprlib.Repr()
_REPR.maxstring = _REPR.maxother = 60
_REPR.maxlist = _REPR.maxdict = _REPR.maxtuple = _REPR.maxset = 6
_REPR.maxlevel = 3


def short(value: Any) -> str:
    """A bounded repr for messages: a pasted megabyte (or an alias bomb) must not become the message."""
    return _REPR.repr(value)


def shown(text: str, limit: int = 120) -> str:
    """User text inside a message: as is when short and printable, else its bounded repr (`short`)."""
    return text if len(text) <= limit and text.isprintable() else short(text)


MESSAGE_LIMIT = 2000  # characters of one error message; a message quoting user values is cut here


def bounded(text: str, limit: int = MESSAGE_LIMIT) -> str:
    """`text` cut to `limit` characters (with a note of how much was cut): the backstop that keeps a message
    quoting user values (an alias bomb, a pasted file) small even where a value was not passed through `short`."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]}... [{len(text) - limit:,} more characters cut]"


def printable(text: str, limit: int = 80) -> str:
    """User text for a terminal line: control characters (ANSI escapes, OSC sequences that retitle the terminal
    or write the clipboard, carriage returns) shown as escapes, and at most `limit` characters."""
    out = "".join(c if c.isprintable() else repr(c)[1:-1] for c in str(text))
    return out if len(out) <= limit else out[: limit - 1] + "…"


def file_stem(text: str, default: str = "model") -> str:
    """A file name stem from user text (a spec name): letters, digits, ``-`` and ``_`` only, at most 60, so a
    name like ``../../x`` cannot choose where a file is written."""
    stem = re.sub(r"[^A-Za-z0-9_-]+", "_", str(text)).strip("_.")[:60]
    return stem or default


def fmt_shape(shape: tuple[int, ...] | list[int]) -> str:
    """Shapes are shown as lists without the batch dimension: ``[64, 16, 16]``."""
    return "[" + ", ".join(str(int(d)) for d in shape) + "]"


def fmt_bytes(n: float) -> str:
    """1536 -> '1.5 KiB'."""
    for unit, factor in (("TiB", 2**40), ("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if abs(n) >= factor:
            return f"{n / factor:,.1f} {unit}"
    return f"{int(n)} B"


def si(value: float, unit: str = "") -> str:
    """4089184256 -> '4.09 G'."""
    for factor, prefix in ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "K")):
        if abs(value) >= factor:
            return f"{value / factor:.2f} {prefix}{unit}"
    return f"{value:g} {unit}".rstrip()
