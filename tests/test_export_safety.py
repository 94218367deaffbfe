"""Exported Python never runs user text: hostile spec and node names stay inside literals and comments, the
module's structure does not depend on them, and the allow-list check refuses anything the exporter does not
write (issue 14, class 1)."""

from __future__ import annotations

import ast
import io
import sys
import tokenize
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.core.errors import SpecError
from engine.export import ExportError, export_python
from engine.export.codecheck import GeneratedCodeError, attr_path, check_module, comment
from engine.ir.graph import Graph, Node

SENTINEL = "skiplab_pwned"
# Each closes a docstring, a string or a comment in a different way and then tries to run code.
HOSTILE = [
    f'x"""; import sys; sys.modules.setdefault("{SENTINEL}", 1); """',
    f"x'''; import sys; sys.modules.setdefault('{SENTINEL}', 1); '''",
    f'x"""\nimport sys; sys.modules.setdefault("{SENTINEL}", 1)\n"""',
    f'x\\"""; import sys; sys.modules.setdefault("{SENTINEL}", 1) #',
    f'a\rimport sys; sys.modules.setdefault("{SENTINEL}", 1)\r',
    f'a\x0cimport sys\u2028sys.modules.setdefault("{SENTINEL}", 1)',
    "\u202e evil \u2066",  # bidi controls ("Trojan Source", CVE-2021-42574)
    "\x00 nul",
    "# -*- coding: rot13 -*-",
]
NAMES = st.sampled_from(HOSTILE) | st.text(st.characters(codec="utf-8"), max_size=40)


def _mlp(name: str) -> dict[str, Any]:
    return {"family": "mlp", "name": name, "input": [4], "depth": 2, "width": 4}


def _structure(source: str) -> list[str]:
    """The module's node kinds, in order: what code it holds, independent of names and string values."""
    return [type(n).__name__ for n in ast.walk(ast.parse(source))]


def _run(source: str) -> None:
    sys.modules.pop(SENTINEL, None)
    exec(compile(source, "exported.py", "exec"), {"__name__": "exported"})  # noqa: S102 - the point of the test
    assert SENTINEL not in sys.modules, "the exported file ran code from a name"


BENIGN = _structure(export_python(_mlp("net")))


@pytest.mark.parametrize("name", HOSTILE)
def test_hostile_spec_name_stays_data(name: str) -> None:
    source = export_python(_mlp(name))
    assert _structure(source) == BENIGN
    _run(source)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(NAMES)
def test_any_spec_name_stays_data(name: str) -> None:
    try:
        source = export_python(_mlp(name))
    except SpecError:
        return  # a name the spec refuses never reaches the exporter
    assert _structure(source) == BENIGN


PART = st.from_regex(r"[A-Za-z][A-Za-z0-9_]{0,6}", fullmatch=True)
HOSTILE_PART = PART | st.sampled_from(["a\n", "a\r", "a b", "a#", "a'", 'a"""', "é", "ａ", "_x", "__class__",
                                       "training", "graph", "meta", "code", "_modules", "import"])


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(HOSTILE_PART, min_size=1, max_size=3), st.sampled_from(["", "\n", "\r\n", " #"]))
def test_hostile_node_names_refused_or_attributes(parts: list[str], tail: str) -> None:
    name = ".".join(parts) + tail
    spec = {"family": "graph", "name": "g", "input": [4],
            "nodes": [{"name": name, "op": "linear", "out_features": 3}]}
    try:
        source = export_python(spec)
    except SpecError:
        return
    tree = ast.parse(source)
    init = next(f for c in tree.body if isinstance(c, ast.ClassDef) for f in c.body
                if isinstance(f, ast.FunctionDef) and f.name == "__init__")
    assigned = {ast.unparse(t) for s in init.body if isinstance(s, ast.Assign) for t in s.targets}
    assert f"self.{name}" in assigned  # the name became exactly an attribute path, nothing else


def test_graph_made_in_code_with_a_hostile_name_is_refused() -> None:
    """Graphs built in Python bypass the spec's check: the exporter checks node names itself."""
    g = Graph((4,), name="g")
    g.add("fc", "linear", "input", out_features=3)
    bad = 'fc2(x)\n        import os  #'
    g.nodes[bad] = Node(bad, "relu", ("fc",))
    g.output = bad
    with pytest.raises(ExportError, match="cannot be written as Python"):
        export_python(g)


@settings(max_examples=200, deadline=None)
@given(st.text(st.characters(codec="utf-8"), max_size=30))
def test_comment_never_ends_the_line(text: str) -> None:
    tokens = list(tokenize.generate_tokens(io.StringIO("x = 1  # " + comment(text) + "\n").readline))
    kinds = [t.type for t in tokens if t.type not in (tokenize.NEWLINE, tokenize.ENDMARKER, tokenize.NL)]
    assert kinds == [tokenize.NAME, tokenize.OP, tokenize.NUMBER, tokenize.COMMENT]


def test_attr_path_accepts_only_identifiers() -> None:
    assert attr_path("stage1.block0.conv1") == "stage1.block0.conv1"
    for bad in ["a\n", "a.b c", "a..b", "é", "class", "__dict__", "a(1)"]:
        with pytest.raises(GeneratedCodeError):
            attr_path(bad)


GOOD = export_python(_mlp("net"))
INJECTED = [
    "import os\n",
    "from os import system\n",
    "print(__import__('os'))\n",
    "x = eval('1')\n",
    "class Extra(nn.Module):\n    pass\n",
    "def build_net():\n    pass\n",
    "exec('1')\n",
    "torch.load('x.pt')\n",
]


@pytest.mark.parametrize("extra", INJECTED)
def test_check_module_refuses_what_the_exporter_does_not_write(extra: str) -> None:
    tree = ast.parse(GOOD)
    cls = next(s.name for s in tree.body if isinstance(s, ast.ClassDef))
    check_module(GOOD, [], cls, "build_net")
    with pytest.raises(GeneratedCodeError):
        check_module(GOOD + "\n" + extra, [], cls, "build_net")


@pytest.mark.parametrize("line", ["x = getattr(self, 'fc')(x)", "x = self.__class__", "import os",
                                  "torch.utils.cpp_extension.load_inline('m', 'int x;')",
                                  "x = torch.hub.load('a', 'b')", "x = open('f')", "x = undefined_name"])
def test_check_module_refuses_injected_forward_lines(line: str) -> None:
    source = GOOD.replace("        return x", f"        {line}\n        return x", 1)
    tree = ast.parse(source)
    cls = next(s.name for s in tree.body if isinstance(s, ast.ClassDef))
    with pytest.raises(GeneratedCodeError):
        check_module(source, [], cls, "build_net")
