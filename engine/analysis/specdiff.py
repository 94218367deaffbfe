"""Two specs' differences in words ("shortcut A → none", "stage3 blocks 3 → 9", "+ skip stage1 → stage3"), and a
run's readable name from its spec's difference to the preset it came from ("resnet20 · shortcut none").

Both specs are validated and compared with their defaults filled in, so ``{shortcut: A}`` written out and left
to the default are the same. Plain data in, plain strings out: the CLI, the store and the dashboard share it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from engine.arch import PRESETS, SpecLike, get_preset, load_spec
from engine.core.text import shown
from engine.spec import to_dict

NAME_SEP = " · "
MAX_NAMED_CHANGES = 3  # a run name lists this many changes, then "+N more"
_IGNORED = ("name",)  # a label, not architecture


@dataclass(frozen=True)
class Change:
    """One difference: ``path`` (``shortcut``, ``stages[2].blocks``, ``edits``), the values before and after
    (None where a side lacks the key), and the words for it."""

    path: str
    before: Any
    after: Any
    words: str


def _value(v: Any) -> str:
    if isinstance(v, dict):
        return ", ".join(f"{str(k).replace('_', ' ')} {_value(x)}" for k, x in v.items())
    if isinstance(v, bool):
        return "on" if v else "off"
    if isinstance(v, list) and all(isinstance(x, int | float) for x in v):
        return ",".join(str(x) for x in v)
    return _clip(v if isinstance(v, str) else repr(v) if isinstance(v, dict | list) else str(v))


def _clip(text: Any, limit: int = 40) -> str:
    """User text in a name or a change: printable, at most ``limit`` characters."""
    text = shown(str(text), 10_000)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _label(path: str) -> str:
    """``stages[2].blocks`` -> ``stage3 blocks`` (the IR's stage names count from 1); others: ``_`` as spaces."""
    if path.startswith("stages[") and "]" in path:
        index, _, rest = path[len("stages["):].partition("]")
        if index.isdigit():
            return f"stage{int(index) + 1}" + (f" {rest.lstrip('.').replace('_', ' ')}" if rest else "")
    return path.replace("_", " ")


def _edit_words(edit: dict[str, Any]) -> str:
    if "add_skip" in edit and isinstance(edit["add_skip"], dict):
        e = edit["add_skip"]
        extra = ", ".join(str(e[k]) for k in ("merge", "adapter") if e.get(k) not in (None, "add", "none"))
        return f"skip {_clip(e.get('from'))} → {_clip(e.get('to'))}" + (f" ({extra})" if extra else "")
    if "remove_skip" in edit:
        return f"no skip at {_clip(edit['remove_skip'])}"
    return _clip(repr(edit), 60)


def _walk(a: Any, b: Any, path: str, out: list[Change]) -> None:
    if a == b:
        return
    if isinstance(a, dict) and isinstance(b, dict):
        keys = list(a) + [k for k in b if k not in a]
        for key in sorted(keys, key=lambda k: k == "edits"):  # edits last: they apply after the knobs
            if not path and key in _IGNORED:
                continue
            _walk(a.get(key), b.get(key), f"{path}.{key}" if path else str(key), out)
        return
    if path == "edits":
        a, b = a or [], b or []
        out.extend(Change("edits", e, None, f"− {_edit_words(e)}") for e in a if e not in b)
        out.extend(Change("edits", None, e, f"+ {_edit_words(e)}") for e in b if e not in a)
        return
    if isinstance(a, list) and isinstance(b, list) and (a or b) and all(isinstance(x, dict) for x in a + b):
        for i in range(max(len(a), len(b))):
            sub = f"{path}[{i}]"
            if i >= len(a):
                out.append(Change(sub, None, b[i], f"+ {_label(sub)} ({_value(b[i])})"))
            elif i >= len(b):
                out.append(Change(sub, a[i], None, f"− {_label(sub)}"))
            else:
                _walk(a[i], b[i], sub, out)
        return
    if a is None:
        out.append(Change(path, a, b, f"{_label(path)} {_value(b)}"))
    elif b is None:
        out.append(Change(path, a, b, f"{_label(path)} unset (was {_value(a)})"))
    else:
        out.append(Change(path, a, b, f"{_label(path)} {_value(a)} → {_value(b)}"))


def _plain(spec: SpecLike | dict[str, Any]) -> dict[str, Any]:
    return to_dict(load_spec(spec))


def spec_changes(a: SpecLike | dict[str, Any], b: SpecLike | dict[str, Any]) -> list[Change]:
    """What changes from spec ``a`` to spec ``b`` (both validated, defaults filled in; names ignored)."""
    da, db = _plain(a), _plain(b)
    if da.get("family") != db.get("family"):
        return [Change("family", da.get("family"), db.get("family"),
                       f"family {da.get('family')} → {db.get('family')}")]
    out: list[Change] = []
    _walk(da, db, "", out)
    return out


def describe_changes(a: SpecLike | dict[str, Any], b: SpecLike | dict[str, Any]) -> list[str]:
    """`spec_changes` as words, one string per change."""
    return [c.words for c in spec_changes(a, b)]


def base_preset(spec: SpecLike | dict[str, Any]) -> str | None:
    """The preset a spec comes from: the one it is named after (same family), else the closest preset of its family
    (fewest changes; the first registered on a tie), else None (a family without presets)."""
    plain = _plain(spec)
    name = plain.get("name")
    if isinstance(name, str) and name in PRESETS and PRESETS.get(name)["family"] == plain["family"]:
        return name
    best: tuple[int, str] | None = None
    for preset in PRESETS.names():
        if PRESETS.get(preset)["family"] != plain["family"]:
            continue
        n = len(spec_changes(to_dict(get_preset(preset)), plain))
        if best is None or n < best[0]:
            best = (n, preset)
    return best[1] if best else None


def derived_name(spec: SpecLike | dict[str, Any]) -> str:
    """A run's readable name: its preset, then what differs from it ("resnet20 · shortcut none · stage3 blocks 3 → 9",
    at most three changes then "+N more"). A spec named other than a preset keeps its own name."""
    plain = _plain(spec)
    name = plain.get("name")
    if isinstance(name, str) and name and name not in PRESETS:
        return _clip(name, 80)
    base = base_preset(plain)
    if base is None:
        return str(name or plain.get("family"))
    words = [_short_words(c) for c in spec_changes(to_dict(get_preset(base)), plain)]
    if len(words) > MAX_NAMED_CHANGES:
        words = words[:MAX_NAMED_CHANGES] + [f"+{len(words) - MAX_NAMED_CHANGES} more"]
    return NAME_SEP.join([base, *words])


def _short_words(change: Change) -> str:
    """In a name the new value says enough: "shortcut none", not "shortcut A → none" (edits keep their words)."""
    if change.path == "edits" or change.before is None or change.after is None:
        return change.words
    return f"{_label(change.path)} {_value(change.after)}"
