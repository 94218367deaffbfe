"""The import contract (tools/layers.py, run by `make lint`): the tree keeps it, and each kind of breach fails it."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))
import layers  # noqa: E402


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """A copy of the sources the checker reads."""
    for d in ("engine", "dashboard", "pages"):
        shutil.copytree(ROOT / d, tmp_path / d, ignore=shutil.ignore_patterns("__pycache__", "node_modules"))
    return tmp_path


def _append(path: Path, text: str) -> None:
    path.write_text(path.read_text() + "\n" + text + "\n")


def test_the_tree_keeps_the_contract():
    assert layers.check(ROOT) == []


def test_make_lint_runs_the_checker():
    assert "tools/layers.py" in (ROOT / "Makefile").read_text()
    done = subprocess.run([sys.executable, str(ROOT / "tools" / "layers.py"), str(ROOT)], capture_output=True,
                          text=True)
    assert done.returncode == 0, done.stdout + done.stderr


def test_a_function_level_cycle_fails(tree: Path):
    # engine.ir.edits imports engine.ir.graph at the top; a late import back closes a cycle.
    _append(tree / "engine" / "ir" / "graph.py", "def _late():\n    from engine.ir.edits import apply_edits\n")
    problems = layers.check(tree)
    assert any("import cycle" in p and "engine.ir.edits" in p and "engine.ir.graph" in p for p in problems), problems


def test_an_upward_import_fails(tree: Path):
    _append(tree / "engine" / "core" / "errors.py", "import engine.train.trainer")
    problems = layers.check(tree)
    assert any("engine/core/errors.py" in p and "(layer train)" in p for p in problems), problems


def test_importing_the_facade_from_inside_the_engine_fails(tree: Path):
    _append(tree / "engine" / "export" / "pycode.py", "from engine.api import summarize")
    assert any("public façade engine.api" in p for p in layers.check(tree))


def test_type_checking_imports_do_not_make_cycles(tree: Path):
    _append(tree / "engine" / "ir" / "graph.py",
            "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from engine.ir.edits import apply_edits")
    assert layers.check(tree) == []


def test_ui_imports_in_the_engine_fail(tree: Path):
    _append(tree / "engine" / "analysis" / "counts.py", "def _plot():\n    import plotly.graph_objects\n")
    assert any("UI-free" in p for p in layers.check(tree))


def test_the_dashboard_uses_only_the_public_api(tree: Path):
    _append(tree / "dashboard" / "state.py", "from engine.ir.graph import Graph")
    assert any("dashboard/state.py" in p and "public API" in p for p in layers.check(tree))
