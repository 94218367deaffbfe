"""A sweep file: a base spec and training config, and overrides to run over, as a grid or a list.

    name: depth-vs-shortcut
    base: resnet8                  # a preset, a spec file (relative to this file) or an inline spec
    config: {dataset: shapes, steps: 300, dataset_options: {train_size: 2000}}
    grid:                          # every combination (2 x 2 x 3 = 12 runs)
      stages[*].blocks: [1, 3]     # [*]: every stage
      shortcut: [A, none]
      seed: [0, 1, 2]
    variants:                      # and/or an explicit list; combined with the grid when both are given
      - {}
      - {edits: [{remove_skip: stage2.block0.add}]}
    max_concurrent: 2

A key is a dotted path into the spec (``stages[0].blocks``, ``shortcut``) or into the training config
(``seed``, ``lr``, ``dataset_options.train_size``); ``spec.`` / ``config.`` prefixes remove any doubt, and
``base`` swaps the base spec itself (``base: [resnet20, resnet56]``). A *variant* is an entry's overrides
without the seed: runs that differ only by seed are repeats of one variant, which the Compare page
averages (mean +- band).
"""

from __future__ import annotations

import copy
import itertools
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from engine.arch import expand as api_expand
from engine.arch import parse, resolve
from engine.arch.presets import preset_names
from engine.core.errors import SpecError
from engine.core.text import short
from engine.spec import decode, read_file, text_format, to_dict
from engine.train.config import TrainConfig, parse_config

SEED_KEYS = ("seed", "config.seed")
MAX_SWEEP_RUNS = 10_000  # a sweep's runs each train: counted before the grid is expanded (10^12 would hang)
_TOKEN = re.compile(r"([A-Za-z_][A-Za-z0-9_]*|\d+)((?:\[(?:\d+|\*)\])*)$")


class SweepDef(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(None, description="a label for the sweep (default: the file's name)")
    base: str | dict[str, Any] = Field(description="preset name, spec file or inline spec")
    config: dict[str, Any] = Field(default_factory=dict, description="training options shared by every run")
    grid: dict[str, list[Any]] = Field(default_factory=dict, description="key -> values; every combination")
    variants: list[dict[str, Any]] = Field(default_factory=list, description="an explicit list of override sets")
    max_concurrent: int = Field(1, gt=0, description="runs training at the same time")


@dataclass(frozen=True)
class Entry:
    """One run of a sweep."""

    index: int
    overrides: dict[str, Any]
    spec: dict[str, Any]
    config: dict[str, Any]
    variant: str
    seed: int

    def run_name(self, sweep: str) -> str:
        return f"{sweep} · {self.variant} · seed {self.seed}"

    def to_dict(self) -> dict[str, Any]:
        return {"index": self.index, "overrides": self.overrides, "variant": self.variant, "seed": self.seed}


def parse_sweep(data: Any, *, source: str = "sweep") -> SweepDef:
    if not isinstance(data, dict):
        raise SpecError(source, f"a sweep is a mapping with base, config, grid and/or variants; got "
                        f"{type(data).__name__}")
    try:
        sweep = SweepDef.model_validate(data)
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        field = ".".join(str(p) for p in first["loc"])
        if first["type"] == "extra_forbidden":
            raise SpecError(f"{source}.{field}", f"unknown sweep key {field!r}; valid keys: "
                            + ", ".join(SweepDef.model_fields)) from None
        raise SpecError(f"{source}.{field}" if field else source, first["msg"]) from None
    for key, values in sweep.grid.items():
        if not values:
            raise SpecError(f"{source}.grid.{key}", "a grid key needs at least one value, got an empty list")
    runs = max(1, len(sweep.variants))
    for values in sweep.grid.values():  # counted, never materialised: a 10^12-entry grid stops here at once
        runs *= len(values)
    if runs > MAX_SWEEP_RUNS:
        sizes = " x ".join(str(len(v)) for v in sweep.grid.values())
        raise SpecError(f"{source}.grid", f"the sweep has {runs:,} runs ({max(1, len(sweep.variants))} variant(s) x "
                        f"grid {short(sizes)}); a sweep runs at most {MAX_SWEEP_RUNS:,}: use fewer values per key")
    both = sorted({k for v in sweep.variants for k in v} & set(sweep.grid))
    if both:
        raise SpecError(f"{source}.grid.{both[0]}", f"{both[0]!r} is set both in grid and in variants; "
                        "set each key in one place")
    return sweep


def load_sweep(path: str | Path) -> tuple[SweepDef, Path]:
    """Read a YAML/JSON sweep file; returns it and the folder relative paths in it start from."""
    p = Path(path).expanduser()
    try:  # the bounded loader, as for specs: size, nesting, aliases, duplicate keys, no Python tags
        data = decode(read_file(p, what="sweep", missing_hint="give a YAML file with base, config and "
                                "grid/variants (see docs/scaling.md)"), text_format(p), what="sweep")
    except SpecError as exc:
        raise SpecError("SWEEP", str(exc)) from None
    sweep = parse_sweep(data, source=p.name)
    if sweep.name is None:
        sweep = sweep.model_copy(update={"name": p.stem})
    return sweep, p.parent


def _base_spec(base: Any, base_dir: Path | None) -> dict[str, Any]:
    if isinstance(base, str) and base not in preset_names() and base_dir is not None \
            and (base_dir / base).expanduser().is_file():
        base = str(base_dir / base)
    return to_dict(resolve(base))


def split_path(key: str) -> list[str | int]:
    """``stages[0].blocks`` -> ["stages", 0, "blocks"]; ``[*]`` stays "*"."""
    out: list[str | int] = []
    for part in key.split("."):
        m = _TOKEN.match(part)
        if not m:
            raise SpecError(key, f"cannot read {part!r} in the override key {key!r}; write dotted names with "
                            "optional [index] or [*], e.g. stages[0].blocks or dataset_options.train_size")
        name, idx = m.groups()
        out.append(int(name) if name.isdigit() else name)
        out.extend(int(i) if i != "*" else "*" for i in re.findall(r"\[(\d+|\*)\]", idx))
    return out


def _set(obj: Any, path: list[str | int], value: Any, key: str, *, create: bool) -> None:
    head, rest = path[0], path[1:]
    if isinstance(obj, list):
        if head == "*":
            if rest:
                for item in obj:
                    _set(item, rest, value, key, create=create)
            else:
                obj[:] = [copy.deepcopy(value) for _ in obj]
            return
        if not isinstance(head, int) or not -len(obj) <= head < len(obj):
            raise SpecError(key, f"index {head!r} is out of range: the list has {len(obj)} items")
    elif isinstance(obj, dict):
        if not isinstance(head, str) or head == "*":
            raise SpecError(key, f"{head!r} indexes a mapping; use a key name (valid: {', '.join(obj) or 'none'})")
        if head not in obj:
            if not create:
                raise SpecError(key, f"no field {head!r} here; valid fields: {', '.join(obj)}")
            if rest:
                obj[head] = {}
    else:
        raise SpecError(key, f"cannot go into {short(head)}: the value there is {short(obj)}, not a mapping or a list")
    if rest:
        _set(obj[head], rest, value, key, create=create)  # type: ignore[index]
    else:
        obj[head] = copy.deepcopy(value)  # type: ignore[index]


def _target(key: str, spec: dict[str, Any]) -> tuple[str, list[str | int]]:
    """Which document a key edits ("spec" or "config") and the path inside it."""
    if key.startswith(("spec.", "config.")):
        where, _, rest = key.partition(".")
        return where, split_path(rest)
    path = split_path(key)
    in_spec, in_cfg = path[0] in spec, path[0] in TrainConfig.model_fields
    if in_spec and in_cfg:
        raise SpecError(key, f"{path[0]!r} is both a spec field and a training option; write spec.{key} or "
                        f"config.{key}")
    if in_spec:
        return "spec", path
    if in_cfg:
        return "config", path
    raise SpecError(key, f"{path[0]!r} is neither a field of the {spec.get('family')} spec ({', '.join(spec)}) "
                    f"nor a training option ({', '.join(TrainConfig.model_fields)})")


def _fmt(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, separators=(",", ":"))


def variant_label(overrides: dict[str, Any]) -> str:
    parts = [f"{k}={_fmt(v)}" for k, v in overrides.items() if k not in SEED_KEYS]
    return ", ".join(parts) or "base"


def combinations(sweep: SweepDef) -> list[dict[str, Any]]:
    """Every override set: each variant (or none) combined with each point of the grid."""
    keys = list(sweep.grid)
    points = [dict(zip(keys, vals, strict=True)) for vals in itertools.product(*(sweep.grid[k] for k in keys))]
    return [{**variant, **point} for variant in (sweep.variants or [{}]) for point in points]


def expand(sweep: SweepDef, base_dir: Path | None = None) -> list[Entry]:
    """The sweep's runs, each validated (spec and config); raises SpecError naming the entry and key."""
    entries: list[Entry] = []
    for i, overrides in enumerate(combinations(sweep)):
        where = f"entry {i} ({variant_label(overrides)[:200]})"
        try:
            spec = _base_spec(overrides.get("base", sweep.base), base_dir)
            cfg = copy.deepcopy(sweep.config)
            for key, value in overrides.items():
                if key == "base":
                    continue
                target, path = _target(key, spec)
                _set(spec if target == "spec" else cfg, path, value, key, create=target == "config")
            parsed = parse(spec)
            api_expand(parsed)  # shapes fit: a ShapeError here names the node
            config = parse_config(cfg)
        except SpecError as exc:
            raise SpecError(f"{where}: {exc.path}" if getattr(exc, "path", "") else where,
                            getattr(exc, "message", str(exc))) from None
        entries.append(Entry(i, overrides, to_dict(parsed), config.to_dict(), variant_label(overrides), config.seed))
    return entries
