"""Hypothesis strategies for the fuzz tests (tests/test_fuzz.py) and bench/hardening.py.

Four sources of input: raw text (unicode, YAML tags, anchors, alias bombs, deep nesting, huge numbers);
specs of every family built from the pydantic field types with small values (so many are valid and reach
expansion, edits and shape inference); presets mutated leaf by leaf; hand-written `graph` specs over the
op registry. Plus a time bound per example (`bounded`), so a hang fails instead of stalling CI.
"""

from __future__ import annotations

import contextlib
import copy
import math
import signal
import types
import typing
from collections.abc import Iterator
from typing import Any

from hypothesis import strategies as st
from pydantic import BaseModel

import engine.arch.families  # noqa: F401 - registers every family, its presets and its ops
from engine.arch import FAMILIES
from engine.arch.presets import PRESETS
from engine.ir.ops import OPS, REQUIRED

FAMILY_NAMES = FAMILIES.names()
OP_NAMES = sorted(n for n in OPS if n != "input")

# Odd scalars: the boundaries, huge, non-finite, wrong types, unicode.
HUGE_INTS = st.sampled_from([0, -1, 2**31, 2**63, 10**30, 10**100, -(10**40)])
ODD_FLOATS = st.sampled_from([0.0, -0.5, 0.5, 1e-300, 1e300, math.inf, -math.inf, math.nan, 1e9])
ODD_TEXT = st.text(st.characters(codec="utf-8"), max_size=12) | st.sampled_from(
    ["", " ", "é", "名前", "a.b", "..", "stage1.block0", "input", "forward", "🔀", "\x00", "a" * 300])
SCALARS = st.none() | st.booleans() | st.integers(-3, 70) | HUGE_INTS | ODD_FLOATS | ODD_TEXT
JSON_LIKE = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=4)
                         | st.dictionaries(ODD_TEXT, inner, max_size=4), max_leaves=12)


# ---- a value for a pydantic field annotation ----------------------------------------------------------------


def for_annotation(ann: Any, depth: int = 0, clean: bool = False) -> st.SearchStrategy[Any]:
    """Well-typed small values when `clean` (so specs validate and reach expansion), else odd ones too."""
    origin, args = typing.get_origin(ann), typing.get_args(ann)
    odd = SCALARS if depth < 2 else st.integers(-1, 3)
    if origin is typing.Annotated:
        return for_annotation(args[0], depth, clean)
    if origin in (typing.Union, types.UnionType):
        return st.one_of([for_annotation(a, depth, clean) for a in args])
    if origin is typing.Literal:
        return st.sampled_from(args) if clean or depth else st.sampled_from(args) | odd
    if ann is type(None):
        return st.none()
    if ann is bool:
        return st.booleans()
    if ann is int:
        small = st.integers(1, 6) | st.integers(1, 40)
        return small if clean else small | st.integers(-2, 0) | HUGE_INTS
    if ann is float:
        nice = st.sampled_from([0.25, 0.5, 1.0, -2.0])
        return nice if clean else nice | ODD_FLOATS
    if ann is str:
        return st.sampled_from(["", "x"]) if clean else ODD_TEXT
    if origin is list:
        return st.lists(for_annotation(args[0], depth + 1, clean), min_size=1 if clean else 0,
                        max_size=4 if clean else 5)
    if isinstance(ann, type) and issubclass(ann, BaseModel):
        return model_dict(ann, depth + 1, clean)
    return odd


def model_dict(model: type[BaseModel], depth: int = 0, clean: bool = False) -> st.SearchStrategy[dict[str, Any]]:
    fields = {(f.alias or n): (for_annotation(f.annotation, depth, clean), f.is_required())
              for n, f in model.model_fields.items() if n not in ("family", "edits", "name", "input")}
    required = {k: v for k, (v, req) in fields.items() if req and clean}
    return st.fixed_dictionaries(required, optional={k: v for k, (v, _) in fields.items() if k not in required})


# Inputs small enough that a forward pass is quick; odd and even sizes, 1 included.
IMAGE = st.tuples(st.integers(1, 4), st.sampled_from([1, 2, 3, 7, 8, 16, 17, 32])).map(lambda t: [t[0], t[1], t[1]])
INPUTS = {"image": IMAGE | st.lists(st.integers(1, 40), min_size=3, max_size=3),
          "vector": st.lists(st.integers(1, 70), min_size=1, max_size=1),
          "seq": st.lists(st.integers(1, 20), min_size=1, max_size=2)}


@st.composite
def family_spec(draw: st.DrawFn, family: str | None = None) -> dict[str, Any]:
    """A spec dict of one family, each optional field present or not; mostly clean, small values."""
    family = family or draw(st.sampled_from(FAMILY_NAMES))
    clean = draw(st.integers(0, 3)) > 0
    spec = draw(model_dict(FAMILIES.get(family).spec_model, clean=clean))
    spec["family"] = family
    if family == "unet" and clean:  # the map must halve exactly at each level
        spec["widths"] = draw(st.lists(st.integers(1, 16), min_size=2, max_size=4))
        spec["input"] = [draw(st.integers(1, 3)), *[2 ** (len(spec["widths"]) - 1) * draw(st.integers(1, 3))] * 2]
    elif draw(st.booleans()) or (clean and family == "graph"):
        spec["input"] = draw(INPUTS["vector"] if family == "mlp" else INPUTS["seq"] if family == "transformer"
                             else INPUTS["image"] if clean else st.lists(st.integers(-1, 9), max_size=4))
    if family == "graph" and (clean or "nodes" not in spec):
        spec["nodes"] = draw(graph_nodes())
    return spec


@st.composite
def graph_nodes(draw: st.DrawFn) -> list[dict[str, Any]]:
    """Nodes over the op registry, each reading an earlier node (or a name that does not exist)."""
    names = ["input"]
    nodes = []
    clean = draw(st.integers(0, 3)) > 0
    for i in range(draw(st.integers(1, 7))):
        op = draw(st.sampled_from(OP_NAMES))
        defn = OPS[op]
        n_in = max(1, defn.min_inputs) if defn.max_inputs == 1 else draw(st.integers(max(1, defn.min_inputs), 3))
        ins = [draw(st.sampled_from(names[-3:]) if clean else st.sampled_from(names) | st.sampled_from(["nowhere"]))
               for _ in range(n_in)]
        node: dict[str, Any] = {"name": draw(st.sampled_from([f"n{i}", f"b{i}.x"]) if clean else ODD_TEXT
                                             | st.just(f"n{i}")),
                                "op": op, "in": ins if len(ins) > 1 else ins[0]}
        for arg, spec in defn.args.items():
            if spec.default is REQUIRED or draw(st.integers(0, 3)) == 0:
                kind = spec.kind
                node[arg] = draw(st.integers(1, 9) if kind is int else st.booleans() if kind is bool
                                 else st.sampled_from(spec.check.removeprefix("choice:").split("|"))
                                 if spec.check.startswith("choice:") else st.sampled_from([0.0, 0.5])
                                 if kind is float and clean else SCALARS)
        nodes.append(node)
        names.append(node["name"])
    return nodes


@st.composite
def mutated_preset(draw: st.DrawFn) -> dict[str, Any]:
    """A preset with a few leaves replaced, keys dropped or added."""
    spec = copy.deepcopy(PRESETS[draw(st.sampled_from(sorted(PRESETS)))])
    for _ in range(draw(st.integers(1, 4))):
        _mutate(draw, spec)
    return spec


def _mutate(draw: st.DrawFn, obj: Any) -> None:
    while True:
        if isinstance(obj, dict) and obj:
            key = draw(st.sampled_from(sorted(obj, key=str)))
            action = draw(st.sampled_from(["replace", "descend", "drop", "add"]))
        elif isinstance(obj, list) and obj:
            key = draw(st.integers(0, len(obj) - 1))
            action = draw(st.sampled_from(["replace", "descend", "drop"]))
        else:
            return
        if action == "descend" and isinstance(obj[key], dict | list) and obj[key]:
            obj = obj[key]
            continue
        if action == "drop":
            del obj[key]
        elif action == "add" and isinstance(obj, dict):
            obj[draw(ODD_TEXT)] = draw(JSON_LIKE)
        else:
            obj[key] = draw(JSON_LIKE | st.integers(1, 9) | HUGE_INTS)
        return


def edits_for(nodes: list[str], groups: list[str]) -> st.SearchStrategy[list[dict[str, Any]]]:
    """Connectivity edits between real endpoints (and a few that do not exist)."""
    target = st.sampled_from(nodes + groups) | st.sampled_from(["nowhere", "input", "stage9.block9"])
    add = st.fixed_dictionaries({"from": target, "to": target},
                                optional={"merge": st.sampled_from(["add", "concat", "gate"]),
                                          "adapter": st.sampled_from(["none", "projection", "pool"])})
    edit = (st.builds(lambda a: {"add_skip": a}, add) | st.builds(lambda t: {"remove_skip": t}, target)
            | st.builds(lambda t, m: {"set_merge": {"target": t, "merge": m}}, target,
                        st.sampled_from(["add", "concat", "gate", "none"])))
    return st.lists(edit, min_size=1, max_size=3)


# ---- raw text ---------------------------------------------------------------------------------------------

ALIAS_BOMB = "a: &a [x,x,x,x,x,x,x,x,x]\n" + "".join(
    f"{c}: &{c} [*{p},*{p},*{p},*{p},*{p},*{p},*{p},*{p},*{p}]\n" for p, c in zip("abcdefgh", "bcdefghi", strict=True))
NASTY_YAML = [
    ALIAS_BOMB + "family: resnet\nname: *i\n",
    "family: graph\ninput: [4]\nnodes: &n\n - {name: fc, op: linear, out_features: 3, junk: *n}\n",
    "&a {family: resnet, stages: [*a]}",
    "!!python/object/apply:os.system ['echo hacked']",
    "family: !!python/name:os.system\n",
    "family: !!python/object/new:builtins.dict {}\n",
    "family: resnet\nname: !!binary aGVsbG8=\ninput: !!set {3: null}\n",
    "family: resnet\nstages: [{blocks: 1" + "0" * 5000 + ", width: 16}]\n",
    "family: resnet\ninput: [3, 1e309, 32]\n",
    "family: mlp\ngate_bias: .nan\ndepth: .inf\n",
    "family: " + "[" * 200_000,
    "family:\n" + "- " * 100_000 + "x\n",
    "family: resnet\n<<: {stem: imagenet}\n",
    "family: resnet\nstages: &s [{blocks: 1, width: 8}]\nedits: *s\n",
    "--- !<tag:yaml.org,2002:python/object:object> {}\n",
    "\ufeff" + "family: resnet\n",
    "family: resnet\n\x00\n",
    "family: 名前\n",
]


@st.composite
def spec_text(draw: st.DrawFn) -> tuple[str, str]:
    """(text, 'yaml' | 'json')."""
    import json

    import yaml

    kind = draw(st.sampled_from(["nasty", "dump", "junk", "family"]))
    if kind == "nasty":
        return draw(st.sampled_from(NASTY_YAML)), "yaml"
    if kind == "junk":
        return draw(st.text(max_size=200)), draw(st.sampled_from(["yaml", "json"]))
    data = draw(family_spec()) if kind == "family" else draw(JSON_LIKE)
    fmt = draw(st.sampled_from(["yaml", "json"]))
    try:
        text = json.dumps(data) if fmt == "json" else yaml.safe_dump(data, allow_unicode=draw(st.booleans()))
    except (ValueError, yaml.YAMLError):
        text = repr(data)
    cut = draw(st.integers(0, 3))
    return (text[: -cut] if cut and len(text) > cut else text), fmt  # sometimes truncated


# ---- a wall-clock bound per example -------------------------------------------------------------------------


class Hang(AssertionError):
    pass


@contextlib.contextmanager
def bounded(seconds: float, what: object) -> Iterator[None]:
    """Fail (rather than hang) when the body runs longer than `seconds` (main thread, POSIX)."""

    def alarm(_signum: int, _frame: object) -> None:
        raise Hang(f"took longer than {seconds} s: {str(what)[:300]}")

    old = signal.signal(signal.SIGALRM, alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)
