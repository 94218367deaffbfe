"""Spec data <-> validated models and text: validation with errors that name the field, the plain dict with
every default written out, canonical JSON (for caching and equality), YAML / JSON text and files."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from engine.core.errors import SpecError
from engine.core.text import short
from engine.spec.models import SpecBase

M = TypeVar("M", bound=BaseModel)


def validate(data: dict[str, Any], model: type[M]) -> M:
    """Validate decoded data into `model`. Raises SpecError naming the field (``stages[1].width: ...``)."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise _to_spec_error(exc, model) from None


def _loc(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part in ("function-after", "function-before") or str(part).startswith("function-"):
            continue
        else:
            out += ("." if out else "") + str(part)
    return out


def _to_spec_error(exc: ValidationError, model: type[BaseModel]) -> SpecError:
    errors = exc.errors(include_url=False)
    first = errors[0]
    path, kind, got = _loc(first["loc"]), first["type"], first.get("input")
    ctx = first.get("ctx", {})
    if kind == "extra_forbidden":
        parent = path.rsplit(".", 1)[0] if "." in path else ""
        msg = f"unknown key {short(path.rsplit('.', 1)[-1])}" + (f" in {parent}" if parent else "")
        if not parent:
            family = model.model_fields.get("family")
            owner = f"family {family.default!r}" if family is not None else "this file"
            msg += f"; valid keys for {owner}: " + ", ".join(f.alias or n for n, f in model.model_fields.items())
        return SpecError(path, msg)
    if kind == "greater_than":
        msg = f"must be a positive integer, got {short(got)}"
    elif kind == "missing":
        msg = "is required"
    elif kind == "literal_error":
        msg = f"must be one of {ctx.get('expected', '')}; got {short(got)}"
    elif kind in ("int_type", "int_parsing", "int_from_float"):
        msg = f"must be an integer, got {short(got)}"
    elif kind in ("bool_type", "bool_parsing"):
        msg = f"must be true or false, got {short(got)}"
    elif kind in ("list_type", "too_short"):
        msg = f"must be a non-empty list, got {short(got)}"
    elif kind == "value_error":
        msg = str(ctx.get("error", first["msg"]))
    else:
        msg = f"{first['msg'][0].lower()}{first['msg'][1:]}, got {short(got)}"
    if len(errors) > 1:
        msg += f" (and {len(errors) - 1} more problem{'s' if len(errors) > 2 else ''})"
    return SpecError(path, msg)


def to_dict(spec: SpecBase) -> dict[str, Any]:
    """A plain dict with every default written out (so a saved spec does not depend on later defaults)."""
    return spec.model_dump(mode="json", by_alias=True, exclude_none=True)


def canonical_json(spec: SpecBase) -> str:
    """Stable text for caching and equality: sorted keys, no whitespace."""
    return json.dumps(to_dict(spec), sort_keys=True, separators=(",", ":"))


def dumps(spec: SpecBase, fmt: Literal["yaml", "json"] = "yaml") -> str:
    data = to_dict(spec)
    if fmt == "json":
        return json.dumps(data, indent=2)
    return yaml.safe_dump(data, sort_keys=False, default_flow_style=None)


def save(spec: SpecBase, path: str | Path) -> None:
    p = Path(path)
    p.write_text(dumps(spec, "json" if p.suffix.lower() == ".json" else "yaml"), encoding="utf-8")
