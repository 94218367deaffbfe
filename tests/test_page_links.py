"""Shared links never give a traceback on the Build page (issue 14, class 5): a spec holding only `family`,
values of the wrong type for a knob's control, deeply nested JSON, reserved node names."""

from __future__ import annotations

import base64
import zlib

import pytest
from streamlit.testing.v1 import AppTest

from dashboard.text import plain
from dashboard.urlstate import encode_spec

LINKS = [
    {"family": "resnet"},  # the stages' default is a list of models, not of dicts: crashed the table editor
    {"family": "densenet"},
    {"family": "resnet", "num_classes": "x"},  # int("x") in the number input
    {"family": "resnet", "stages": [1, 2]},
    {"family": "resnet", "input": 7},
    {"family": "resnet", "preact": "yes"},
    {"family": "mlp", "width": [1]},
    {"family": "graph", "input": [4], "nodes": [{"name": "meta", "op": "linear", "out_features": 2}]},
]


def _open(link: str) -> AppTest:
    at = AppTest.from_file("../dashboard/app.py", default_timeout=60)
    at.query_params["spec"] = link
    return at.run()


@pytest.mark.parametrize("spec", LINKS, ids=[str(s)[:50] for s in LINKS])
def test_a_linked_spec_never_raises_on_the_page(spec: dict, store_path) -> None:  # noqa: ANN001
    at = _open(encode_spec(spec))
    assert not at.exception, at.exception
    shown = " ".join(plain(e.value) for e in at.error)
    if spec.get("nodes"):
        assert "'meta' is reserved" in shown
    elif len(spec) > 1:
        assert "does not build" in shown, shown  # the bad value reaches validation unchanged, and is named


def test_deeply_nested_json_in_a_link_is_a_message(store_path) -> None:  # noqa: ANN001
    deep = ('{"family": "resnet", "x": ' + "[" * 50_000 + "]" * 50_000 + "}").encode()
    at = _open(base64.urlsafe_b64encode(zlib.compress(deep, 9)).decode().rstrip("="))
    assert not at.exception, at.exception
    assert any("nested too deeply" in plain(w.value) for w in at.warning)
