"""The first page a user meets draws its numbers first and cheaply (issue 21): the script run that serves it loads
neither torch nor pandas before the metrics, and the metrics come before the knobs in the page."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# A fresh interpreter runs the app's first script run through AppTest; `pandas_at_metrics` is recorded at the
# moment the page draws its first metric (Streamlit's own metric call, wrapped).
PROBE = """
import sys
import streamlit as st
from streamlit.delta_generator import DeltaGenerator
from streamlit.testing.v1 import AppTest

seen = {}
original = DeltaGenerator.metric
def metric(self, *args, **kwargs):
    seen.setdefault("pandas_at_metrics", "pandas" in sys.modules)
    seen.setdefault("torch_at_metrics", "torch" in sys.modules)
    return original(self, *args, **kwargs)
DeltaGenerator.metric = metric

at = AppTest.from_file(sys.argv[1], default_timeout=120).run()
assert not at.exception, at.exception
print(seen["pandas_at_metrics"], seen["torch_at_metrics"], "torch" in sys.modules)
"""


def test_the_first_build_page_draws_its_numbers_before_pandas_and_never_imports_torch(tmp_path):
    env = {**os.environ, "SKIPLAB_WARMUP": "0", "SKIPLAB_STORE": str(tmp_path / "runs.sqlite")}
    out = subprocess.run([sys.executable, "-c", PROBE, str(ROOT / "dashboard" / "app.py")], capture_output=True,
                         text=True, cwd=ROOT, env=env, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    pandas_at_metrics, torch_at_metrics, torch_after = out.stdout.split()
    assert pandas_at_metrics == "False", "pandas was imported before the first numbers were drawn"
    assert torch_at_metrics == "False" and torch_after == "False", "the Build page imported torch"


def test_the_numbers_come_before_the_knobs():
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file("../dashboard/app.py", default_timeout=120).run()
    assert not at.exception
    flat = _labels_in_order(at.main)
    assert flat.index("Parameters") < flat.index("Start from a preset") < flat.index("Spec (YAML)"), flat


def _labels_in_order(node) -> list[str]:  # noqa: ANN001 - an AppTest element tree
    """Every element's label, depth first, in the order the page drew them."""
    labels: list[str] = []
    label = getattr(node, "label", None)
    if isinstance(label, str):
        labels.append(label)
    for child in getattr(node, "children", {}).values():
        labels.extend(_labels_in_order(child))
    return labels
