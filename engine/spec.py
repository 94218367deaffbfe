"""The spec file format (v1): pydantic models per family, load/dump YAML and JSON, canonical JSON.

The spec is the single source of truth: the UI edits one, the store saves it with each run, the CLI
loads it. Unknown keys are errors, never ignored. Every validation failure becomes a `SpecError`
whose path names the field (``stages[1].width: must be a positive integer, got -4``).
"""

from __future__ import annotations

import gc
import itertools
import json
import reprlib
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from engine.errors import SpecError
from engine.guards import check_spec_data, check_spec_text

PosInt = Annotated[int, Field(gt=0)]


class StrictModel(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, populate_by_name=True)


# ---- edits (applied to any family's graph by engine.edits) -----------------------------------------------


class AddSkip(StrictModel):
    source: str = Field(alias="from", description="a node or block whose output the skip carries")
    to: str = Field(description="a node or block whose output is merged with the skip")
    merge: Literal["add", "concat", "gate"] = "add"
    adapter: Literal["none", "projection", "pool"] = "none"


class SetMerge(StrictModel):
    target: str = Field(description="a block or U-Net level whose merge op changes")
    merge: Literal["add", "concat", "gate", "none"]


class Edit(StrictModel):
    add_skip: AddSkip | None = None
    remove_skip: str | None = None
    set_merge: SetMerge | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> Edit:
        given = [k for k in ("add_skip", "remove_skip", "set_merge") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError("an edit has exactly one of add_skip, remove_skip, set_merge; got "
                             + (", ".join(given) or "none"))
        return self


class SpecBase(StrictModel):
    family: str
    name: str = ""
    input: list[PosInt] = Field(min_length=1, description="the input shape without the batch dimension")
    edits: list[Edit] = Field(default_factory=list)


FAMILY_SPECS: dict[str, type[SpecBase]] = {}


def register_family_spec(family: str):  # noqa: ANN201 - a class decorator
    def deco(cls: type[SpecBase]) -> type[SpecBase]:
        if family in FAMILY_SPECS:
            raise SpecError("family", f"family {family!r} is registered twice")
        FAMILY_SPECS[family] = cls
        return cls

    return deco


# ---- resnet ---------------------------------------------------------------------------------------------


class Stage(StrictModel):
    blocks: PosInt
    width: PosInt
    stride: PosInt | None = Field(default=None, description="default: 1 for the first stage, 2 after")


@register_family_spec("resnet")
class ResNetSpec(SpecBase):
    family: Literal["resnet"] = "resnet"
    input: list[PosInt] = Field(default_factory=lambda: [3, 32, 32])
    num_classes: PosInt = 10
    stem: Literal["cifar", "imagenet"] = "cifar"
    block: Literal["basic", "bottleneck"] = "basic"
    preact: bool = False
    shortcut: Literal["A", "B", "C", "none"] = "A"
    norm: Literal["batch", "none"] = "batch"
    zero_init_residual: bool = False
    stages: list[Stage] = Field(
        default_factory=lambda: [Stage(blocks=3, width=16), Stage(blocks=3, width=32), Stage(blocks=3, width=64)],
        min_length=1,
    )

    @field_validator("input")
    @classmethod
    def _image(cls, v: list[int]) -> list[int]:
        if len(v) != 3:
            raise ValueError(f"must be [C, H, W] for an image, got {v}")
        return v


# ---- graph: nodes written out by hand ---------------------------------------------------------------------


class GraphNodeSpec(BaseModel):
    # Op arguments ride along as extra keys and are validated against the op registry at expansion.
    model_config = ConfigDict(extra="allow", strict=True, populate_by_name=True)
    name: str
    op: str
    inputs: list[str] = Field(alias="in", default_factory=lambda: ["input"])

    @field_validator("inputs", mode="before")
    @classmethod
    def _one_or_many(cls, v: Any) -> Any:
        return [v] if isinstance(v, str) else v


@register_family_spec("graph")
class GraphSpec(SpecBase):
    family: Literal["graph"] = "graph"
    nodes: list[GraphNodeSpec] = Field(min_length=1)
    output: str | None = Field(default=None, description="default: the last node")
    init: Literal["torchvision", "default", "he", "xavier"] = "default"
    num_classes: PosInt | None = None


# ---- parsing --------------------------------------------------------------------------------------------


def _ensure_families_loaded() -> None:
    import engine.families  # noqa: F401  (registers the other families' spec models)


def parse(data: Any) -> SpecBase:
    """Validate a plain dict into the family's spec model. Raises SpecError naming the field."""
    _ensure_families_loaded()
    if isinstance(data, BaseModel):
        return data  # type: ignore[return-value]
    if not isinstance(data, dict):
        raise SpecError("", f"a spec is a mapping of keys (family, input, ...), got {type(data).__name__}")
    check_spec_data(data)  # size, depth, self-references: before validation walks it (engine.guards)
    family = data.get("family")
    if family is None:
        raise SpecError("family", f"required; one of {', '.join(sorted(FAMILY_SPECS))}")
    if not isinstance(family, str) or family not in FAMILY_SPECS:
        raise SpecError("family", f"unknown family {short(family)}; valid: {', '.join(sorted(FAMILY_SPECS))}")
    model = FAMILY_SPECS[family]
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise _to_spec_error(exc, model) from None


_REPR = reprlib.Repr()
_REPR.maxstring = _REPR.maxother = 60
_REPR.maxlist = _REPR.maxdict = _REPR.maxtuple = _REPR.maxset = 6
_REPR.maxlevel = 3


def short(value: Any) -> str:
    """A bounded repr for messages: a pasted megabyte (or an alias bomb) must not become the message."""
    return _REPR.repr(value)


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
            msg += f"; valid keys for family {model.model_fields['family'].default!r}: " + ", ".join(
                f.alias or n for n, f in model.model_fields.items())
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


def loads(text: str, fmt: Literal["yaml", "json"] = "yaml") -> SpecBase:
    """Parse spec text. YAML is loaded with safe_load: no tags that construct Python objects."""
    check_spec_text(text)
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
        raise SpecError("", "the spec text is nested too deeply to be a spec (a spec nests a few levels of lists "
                        "and mappings); check for unclosed or repeated brackets") from None
    except ValueError as exc:  # e.g. an integer of more than 4,300 digits (CPython's int-parsing limit)
        raise SpecError("", f"the spec text holds a value that cannot be read: {str(exc).split(';')[0]}") from None
    if data is None:
        raise SpecError("", "the spec is empty; start from a preset, e.g. `python -m engine summary resnet20`")
    return parse(data)


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


def load(path: str | Path) -> SpecBase:
    p = Path(path)
    if not p.exists():
        raise SpecError("", f"spec file '{p}' not found; give a preset name (see `python -m engine presets`) "
                            "or the path of a .yaml/.json spec")
    if not p.is_file():
        raise SpecError("", f"'{p}' is a directory, not a spec file")
    try:
        text = p.read_text(encoding="utf-8")
    except (UnicodeDecodeError, OSError) as exc:
        raise SpecError("", f"cannot read spec file '{p}' as UTF-8 text ({exc.__class__.__name__}); "
                            "is it a YAML or JSON spec?") from None
    try:
        return loads(text, "json" if p.suffix.lower() == ".json" else "yaml")
    except SpecError as exc:
        raise SpecError(exc.path, f"{exc.message} (in {p.name})") from None


def save(spec: SpecBase, path: str | Path) -> None:
    p = Path(path)
    p.write_text(dumps(spec, "json" if p.suffix.lower() == ".json" else "yaml"), encoding="utf-8")
