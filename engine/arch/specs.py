"""Family-aware spec parsing: decoded data -> the family's validated model; a preset name, a spec file, a
dict or a parsed spec -> a validated spec. The format itself (models, bounded loading) is `engine.spec`."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from engine.arch.families import FAMILIES
from engine.arch.presets import PRESETS, preset_dict
from engine.core.errors import SpecError
from engine.core.text import short
from engine.spec import SpecBase, decode, read_file, text_format, to_dict, validate
from engine.spec.loader import check_spec_data

SpecLike = str | Path | SpecBase | dict[str, Any]


def parse(data: Any) -> SpecBase:
    """Validate a plain dict into the family's spec model. Raises SpecError naming the field."""
    if isinstance(data, SpecBase):
        return data
    if not isinstance(data, dict):
        raise SpecError("", f"a spec is a mapping of keys (family, input, ...), got {type(data).__name__}")
    check_spec_data(data)  # size, depth, self-references: before validation walks it
    family = data.get("family")
    valid = ", ".join(sorted(FAMILIES.names()))
    if family is None:
        raise SpecError("family", f"required; one of {valid}")
    if not isinstance(family, str) or family not in FAMILIES:
        raise SpecError("family", f"unknown family {short(family)}; valid: {valid}")
    return validate(data, FAMILIES.get(family).spec_model)


def loads(text: str, fmt: Literal["yaml", "json"] = "yaml") -> SpecBase:
    """Parse spec text (bounded; YAML with a safe loader: no tags that construct Python objects)."""
    data = decode(text, fmt, what="spec")
    if data is None:
        raise SpecError("", "the spec is empty; start from a preset, e.g. `python -m engine summary resnet20`")
    return parse(data)


def load(path: str | Path) -> SpecBase:
    text = read_file(path, what="spec", missing_hint="give a preset name (see `python -m engine presets`) or "
                                                      "the path of a .yaml/.json spec")
    try:
        return loads(text, text_format(path))
    except SpecError as exc:
        raise SpecError(exc.path, f"{exc.message} (in {Path(path).name})") from None


def get_preset(name: str) -> SpecBase:
    if name not in PRESETS:
        raise SpecError("", f"unknown preset {short(name)}; valid presets: {', '.join(PRESETS.names())}")
    return parse(preset_dict(name))


def resolve(spec_or_name: SpecLike) -> SpecBase:
    """A preset name, a path to a .yaml/.json spec, a dict or an already-parsed spec -> a validated spec."""
    if isinstance(spec_or_name, SpecBase):
        return spec_or_name
    if isinstance(spec_or_name, dict):
        return parse(spec_or_name)
    text = str(spec_or_name)
    if text in PRESETS:
        return get_preset(text)
    if Path(text).suffix.lower() in (".yaml", ".yml", ".json") or Path(text).exists():
        return load(text)
    raise SpecError("", f"{short(text)} is neither a preset nor a spec file; presets: {', '.join(PRESETS.names())}")


def load_spec(spec: SpecLike, *, input_shape: list[int] | None = None) -> SpecBase:
    """Resolve a preset name / file / dict into a validated spec, optionally with another input shape."""
    parsed = resolve(spec)
    if input_shape is not None:
        parsed = parse({**to_dict(parsed), "input": list(input_shape)})
    return parsed
