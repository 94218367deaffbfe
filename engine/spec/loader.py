"""Bounded loading of every text the project parses: specs, --config files, sweep files.

A classroom pastes odd text: a megabyte, 100,000 nested brackets, a YAML alias bomb ("billion laughs").
Each is refused here with a message naming where, before anything walks it: text at most 512 KiB, data at
most 1,000,000 values counted with YAML aliases expanded (in time linear in the distinct objects), 64
levels of nesting, no self-references. YAML is read with a safe loader (no tag constructs an object); a key
given twice in one mapping is an error in YAML and JSON alike (YAML would silently keep the last), and a
leading byte-order mark is accepted in both. `read_file` reads only regular files, bounded before reading.
"""

from __future__ import annotations

import errno
import gc
import itertools
import json
import os
import re
import stat
from pathlib import Path
from typing import Any, Literal

import yaml

from engine.core.errors import SpecError
from engine.core.text import short

MAX_SPEC_VALUES = 1_000_000
MAX_SPEC_DEPTH = 64
MAX_SPEC_BYTES = 512 * 1024  # loads in about a second; a spec is a few KB, a 5,000-node graph ~250 KB


def check_spec_text(text: str, what: str = "spec") -> None:
    if len(text) > MAX_SPEC_BYTES:
        raise SpecError("", f"the {what} text is {len(text):,} characters; a {what} is at most {MAX_SPEC_BYTES:,} "
                            "(a few KB is usual); is this the right file?")


def check_spec_data(data: Any, what: str = "spec") -> None:
    """Refuse decoded spec data that is too large, too deep or self-referencing, naming where.

    Counted with aliases expanded (what validation and JSON would walk) but in time linear in the
    distinct objects, so a 'billion laughs' alias bomb is refused at once instead of hanging.
    """
    _walk(data, "", 0, set(), {}, [0, what])


def _walk(obj: Any, path: str, depth: int, on_path: set[int], memo: dict[int, int], total: list[Any]) -> int:
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
        raise SpecError(top, f"is nested more than {MAX_SPEC_DEPTH} levels deep; a {total[1]} is a few levels deep")
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


def _count(total: list[Any], n: int, path: str) -> None:
    total[0] += n
    if total[0] > MAX_SPEC_VALUES:
        raise SpecError(path, f"the {total[1]} expands to more than {MAX_SPEC_VALUES:,} values (YAML aliases that "
                              f"repeat other aliases multiply: a 'billion laughs'); a {total[1]} has a few hundred")


class _UniqueKeys:
    """A safe constructor that refuses a key given twice in one mapping (merge keys ``<<`` may be overridden:
    that is what they are for)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: dict[Any, yaml.Node] = {}
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue
            key = self.construct_object(key_node, deep=True)  # type: ignore[attr-defined]
            try:
                first = seen.setdefault(key, key_node)
            except TypeError:  # an unhashable key: the base constructor says so
                continue
            if first is not key_node:
                raise yaml.constructor.ConstructorError(
                    None, None, f"the key {short(key)} is given twice in one mapping (first at line "
                    f"{first.start_mark.line + 1}); each key may appear once", key_node.start_mark)
        return super().construct_mapping(node, deep)  # type: ignore[misc]


class _PySafe(_UniqueKeys, yaml.SafeLoader):
    pass


# libyaml's parser when installed (the same safe constructor, several times faster on a long paste).
_SafeLoader = type("_CSafe", (_UniqueKeys, yaml.CSafeLoader), {}) if hasattr(yaml, "CSafeLoader") else _PySafe


def _unique_pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise SpecError("", f"malformed JSON: the key {short(key)} is given twice in one object; each key may "
                                "appear once")
        out[key] = value
    return out


_C_DEPTH = 1000  # libyaml's composer recurses in C without a limit: 100,000 nested '[' crash the process
_FLOW = {"[": 1, "{": 1, "]": -1, "}": -1}


def _nesting_bound(text: str) -> int:
    """An upper bound on the nesting depth of YAML text: flow brackets plus, per line, indentation and
    the '-' / '?' that open block collections (quotes are ignored, so it can only over-estimate)."""
    flow = max(itertools.accumulate(_FLOW[c] for c in text if c in _FLOW), default=0)
    block = max((len(line) - len(line.lstrip()) + line.count("-") + line.count("?") for line in text.splitlines()),
                default=0)
    return flow + block


def _deeper_than(text: str, limit: int) -> bool:
    """Whether the YAML nests more than `limit` collections, from the parser's events (libyaml's parser is a state
    machine: no recursion, so 200,000 '[' take a tenth of a second instead of the Python parser's seconds)."""
    depth = 0
    parser = getattr(yaml, "CSafeLoader", yaml.SafeLoader)(text)
    try:
        while parser.check_event():
            event = parser.get_event()
            if isinstance(event, yaml.MappingStartEvent | yaml.SequenceStartEvent):
                depth += 1
                if depth > limit:
                    return True
            elif isinstance(event, yaml.MappingEndEvent | yaml.SequenceEndEvent):
                depth -= 1
    except yaml.YAMLError as exc:
        if _too_deep_for_libyaml(exc):
            return True
        raise
    finally:
        parser.dispose()
    return False


def _too_deep_for_libyaml(exc: yaml.YAMLError) -> bool:
    """libyaml >= 0.2.6 stops at 1,000 levels itself ("exceeded maximum nesting depth"): deeper than any spec."""
    return "maximum nesting depth" in str(getattr(exc, "problem", "") or exc)


def _safe_yaml(text: str) -> Any:
    """yaml.safe_load, faster: libyaml's parser where the nesting is shallow enough for its C recursion
    (else the Python parser, whose RecursionError becomes a SpecError), and no garbage collection
    passes while it allocates (they dominate the time on a large paste and find nothing to free)."""
    loader = _SafeLoader
    if _nesting_bound(text) > _C_DEPTH:
        if _deeper_than(text, MAX_SPEC_DEPTH):
            raise RecursionError  # decode's "nested too deeply", found in ~0.1 s, not after seconds of parsing
        loader = _SafeLoader if hasattr(yaml, "CSafeLoader") else _PySafe  # shallow after all: brackets in quotes
    paused = gc.isenabled()
    gc.disable()
    try:
        return yaml.load(text, Loader=loader)  # noqa: S506 - a SafeLoader: no Python object tags
    finally:
        if paused:
            gc.enable()


def _nested_too_deeply(what: str) -> SpecError:
    return SpecError("", f"the {what} text is nested too deeply to be a {what} (a {what} nests a few levels of "
                     "lists and mappings); check for unclosed or repeated brackets")


def decode(text: str, fmt: Literal["yaml", "json"] = "yaml", *, what: str = "spec") -> Any:
    """Text -> plain data, bounded (size, nesting, values with aliases expanded). `what` names the text in
    messages ("spec", "training config", "sweep file"). Raises SpecError naming the line or the field."""
    check_spec_text(text, what)
    text = text.removeprefix("\ufeff")  # a byte-order mark (Windows editors): YAML allowed it, now JSON does too
    try:
        data = json.loads(text, object_pairs_hook=_unique_pairs) if fmt == "json" else _safe_yaml(text)
    except SpecError:
        raise
    except json.JSONDecodeError as exc:
        raise SpecError("", f"malformed JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}") from None
    except yaml.YAMLError as exc:
        if _too_deep_for_libyaml(exc):
            raise _nested_too_deeply(what) from None
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        tag = re.search(r"constructor for the tag '([^']*)'", problem)
        if tag:  # !!python/object and friends: refused by the safe loader, said plainly
            name = tag.group(1).replace("tag:yaml.org,2002:", "!!")
            raise SpecError("", f"the YAML tag {short(name)}{where} is not allowed: a {what} is plain data "
                                "(mappings, lists, strings, numbers); SkipLab never builds Python objects from "
                                "text. Remove the tag") from None
        raise SpecError("", f"malformed YAML{where}: {problem}") from None
    except RecursionError:
        raise _nested_too_deeply(what) from None
    except ValueError as exc:  # e.g. an integer of more than 4,300 digits (CPython's int-parsing limit)
        raise SpecError("", f"the {what} text holds a value that cannot be read: {str(exc).split(';')[0]}") from None
    check_spec_data(data, what)
    return data


def text_format(path: str | Path) -> Literal["yaml", "json"]:
    return "json" if Path(path).suffix.lower() == ".json" else "yaml"


_KINDS = {stat.S_IFCHR: "a character device", stat.S_IFBLK: "a block device", stat.S_IFIFO: "a FIFO (named pipe)",
          stat.S_IFSOCK: "a socket"}


def read_file(path: str | Path, *, what: str = "spec", missing_hint: str = "") -> str:
    """The UTF-8 text of a regular file the user named, or a SpecError saying why it cannot be read. Devices
    (/dev/zero), FIFOs and sockets are refused before opening (reading one would block or never end), and a
    file is read only up to the size limit."""
    p = Path(path)
    name = short(str(p))
    try:
        st = p.stat()
    except FileNotFoundError:
        dangling = " is a symbolic link to a file that does not exist" if p.is_symlink() else " not found"
        raise SpecError("", f"{what} file {name}{dangling}" + (f"; {missing_hint}" if missing_hint else "")) from None
    except OSError as exc:
        why = "is a symbolic link loop (it points back at itself)" if exc.errno == errno.ELOOP else \
            f"cannot be opened ({os.strerror(exc.errno) if exc.errno else exc.__class__.__name__})"
        raise SpecError("", f"{what} file {name} {why}; give a YAML or JSON file") from None
    if stat.S_ISDIR(st.st_mode):
        raise SpecError("", f"{name} is a directory, not a {what} file")
    if not stat.S_ISREG(st.st_mode):
        kind = _KINDS.get(stat.S_IFMT(st.st_mode), "not a regular file")
        raise SpecError("", f"{name} is {kind}, not a {what} file; give a YAML or JSON file")
    limit = 4 * MAX_SPEC_BYTES  # UTF-8 takes at most 4 bytes a character: anything longer is refused unread
    if st.st_size > limit:
        raise SpecError("", f"the {what} file {name} is {st.st_size:,} bytes; a {what} is at most {MAX_SPEC_BYTES:,} "
                            "characters (a few KB is usual); is this the right file?")
    try:
        with open(p, "rb") as f:
            return f.read(limit + 1).decode("utf-8")
    except (UnicodeDecodeError, OSError) as exc:
        raise SpecError("", f"cannot read {what} file {name} as UTF-8 text ({exc.__class__.__name__}); "
                            "is it a YAML or JSON file?") from None
