"""Bounded loading of every text the project parses: specs, --config files, sweep files.

A classroom pastes odd text: a megabyte, 100,000 nested brackets, a YAML alias bomb ("billion laughs").
Each is refused here with a message naming where, before anything walks it: text at most 512 KiB, data at
most 1,000,000 values counted with YAML aliases expanded (in time linear in the distinct objects), 64
levels of nesting, no self-references. YAML is read with a safe loader (no tag constructs an object).
"""

from __future__ import annotations

import gc
import itertools
import json
import re
from pathlib import Path
from typing import Any, Literal

import yaml

from engine.core.errors import SpecError

MAX_SPEC_VALUES = 1_000_000
MAX_SPEC_DEPTH = 64
MAX_SPEC_BYTES = 512 * 1024  # loads in about a second; a spec is a few KB, a 5,000-node graph ~250 KB


def check_spec_text(text: str, what: str = "spec") -> None:
    if len(text) > MAX_SPEC_BYTES:
        raise SpecError("", f"the {what} text is {len(text):,} characters; a {what} is at most {MAX_SPEC_BYTES:,} "
                            "(a few KB is usual); is this the right file?")


def check_spec_data(data: Any) -> None:
    """Refuse decoded spec data that is too large, too deep or self-referencing, naming where.

    Counted with aliases expanded (what validation and JSON would walk) but in time linear in the
    distinct objects, so a 'billion laughs' alias bomb is refused at once instead of hanging.
    """
    _walk(data, "", 0, set(), {}, [0])


def _walk(obj: Any, path: str, depth: int, on_path: set[int], memo: dict[int, int], total: list[int]) -> int:
    if not isinstance(obj, dict | list | tuple):
        size = 1 + (len(obj) // 1024 if isinstance(obj, str | bytes) else 0)
        _count(total, size, path)
        return size
    key = id(obj)
    if key in memo:  # a YAML alias: the same object again, counted again without walking it again
        _count(total, memo[key], path)
        return memo[key]
    if key in on_path:
        raise SpecError(path, "refers to itself (a YAML alias inside its own anchor); write the value out")
    if depth >= MAX_SPEC_DEPTH:
        top = re.split(r"[.\[]", path, maxsplit=1)[0]
        raise SpecError(top, f"is nested more than {MAX_SPEC_DEPTH} levels deep; a spec is a few levels deep")
    on_path.add(key)
    size = 1
    _count(total, 1, path)
    items = obj.items() if isinstance(obj, dict) else enumerate(obj)
    for k, v in items:
        sub = (f"{path}.{k}" if path else str(k)) if isinstance(obj, dict) else f"{path}[{k}]"
        size += _walk(v, sub, depth + 1, on_path, memo, total)
    on_path.discard(key)
    memo[key] = size
    return size


def _count(total: list[int], n: int, path: str) -> None:
    total[0] += n
    if total[0] > MAX_SPEC_VALUES:
        raise SpecError(path, f"the spec expands to more than {MAX_SPEC_VALUES:,} values (YAML aliases that "
                              "repeat other aliases multiply: a 'billion laughs'); a spec has a few hundred")


# libyaml's parser when installed (the same safe constructor, several times faster on a long paste).
_SafeLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


_C_DEPTH = 1000  # libyaml's composer recurses in C without a limit: 100,000 nested '[' crash the process
_FLOW = {"[": 1, "{": 1, "]": -1, "}": -1}


def _nesting_bound(text: str) -> int:
    """An upper bound on the nesting depth of YAML text: flow brackets plus, per line, indentation and
    the '-' / '?' that open block collections (quotes are ignored, so it can only over-estimate)."""
    flow = max(itertools.accumulate(_FLOW[c] for c in text if c in _FLOW), default=0)
    block = max((len(line) - len(line.lstrip()) + line.count("-") + line.count("?") for line in text.splitlines()),
                default=0)
    return flow + block


def _safe_yaml(text: str) -> Any:
    """yaml.safe_load, faster: libyaml's parser where the nesting is shallow enough for its C recursion
    (else the Python parser, whose RecursionError becomes a SpecError), and no garbage collection
    passes while it allocates (they dominate the time on a large paste and find nothing to free)."""
    loader = _SafeLoader if _nesting_bound(text) <= _C_DEPTH else yaml.SafeLoader
    paused = gc.isenabled()
    gc.disable()
    try:
        return yaml.load(text, Loader=loader)  # noqa: S506 - a SafeLoader: no Python object tags
    finally:
        if paused:
            gc.enable()


def decode(text: str, fmt: Literal["yaml", "json"] = "yaml", *, what: str = "spec") -> Any:
    """Text -> plain data, bounded (size, nesting, values with aliases expanded). `what` names the text in
    messages ("spec", "training config", "sweep file"). Raises SpecError naming the line or the field."""
    check_spec_text(text, what)
    try:
        data = json.loads(text) if fmt == "json" else _safe_yaml(text)
    except json.JSONDecodeError as exc:
        raise SpecError("", f"malformed JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise SpecError("", f"malformed YAML{where}: {problem}") from None
    except RecursionError:
        raise SpecError("", f"the {what} text is nested too deeply to be a {what} (a {what} nests a few levels of "
                        "lists and mappings); check for unclosed or repeated brackets") from None
    except ValueError as exc:  # e.g. an integer of more than 4,300 digits (CPython's int-parsing limit)
        raise SpecError("", f"the {what} text holds a value that cannot be read: {str(exc).split(';')[0]}") from None
    check_spec_data(data)
    return data


def text_format(path: str | Path) -> Literal["yaml", "json"]:
    return "json" if Path(path).suffix.lower() == ".json" else "yaml"


def read_file(path: str | Path, *, what: str = "spec", missing_hint: str = "") -> str:
    """The UTF-8 text of a file the user named, or a SpecError saying why it cannot be read."""
    p = Path(path)
    if not p.exists():
        raise SpecError("", f"{what} file '{p}' not found" + (f"; {missing_hint}" if missing_hint else ""))
    if not p.is_file():
        raise SpecError("", f"'{p}' is a directory, not a {what} file")
    try:
        return p.read_text(encoding="utf-8")
    except (UnicodeDecodeError, OSError) as exc:
        raise SpecError("", f"cannot read {what} file '{p}' as UTF-8 text ({exc.__class__.__name__}); "
                            "is it a YAML or JSON file?") from None
