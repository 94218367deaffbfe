"""dashboard/state.py: the Build page's evaluation cached by canonical JSON, and the PyTorch-code download written
only when it is clicked."""

from __future__ import annotations

import ast

from dashboard import state
from engine.api import evaluate, get_preset, to_dict
from engine.export import ExportError


def test_cached_evaluation_equals_the_engine_and_bad_specs_keep_their_location():
    spec = to_dict(get_preset("resnet20"))
    cached, direct = state.evaluate_spec(spec, batch=8), evaluate(spec, batch=8)
    assert cached.ok and cached.analysis.params == direct.analysis.params and cached.train_memory == direct.train_memory
    again = state.evaluate_spec(dict(spec), batch=8)  # the same canonical form: served from the cache
    assert again.analysis.macs == cached.analysis.macs
    bad = state.evaluate_spec({**spec, "stages": [{"blocks": 1, "width": -4}]}, batch=8)
    assert not bad.ok and bad.error_field.startswith("stages") and "-4" in bad.error


def test_python_code_is_written_on_click_and_a_failure_is_a_commented_file(monkeypatch):
    make = state.python_code_file('{"family": "resnet", "name": "x"}')
    calls = []
    monkeypatch.setattr(state, "_python_code", lambda spec_json: calls.append(spec_json) or "import torch\n")
    assert calls == []  # nothing is built until the download is asked for
    assert make() == "import torch\n" and len(calls) == 1

    def fail(_spec_json: str) -> str:
        raise ExportError("no code emitter for op 'frobnicate'\nimport os")

    monkeypatch.setattr(state, "_python_code", fail)
    text = make()
    assert all(line.startswith("# ") for line in text.splitlines()) and "frobnicate" in text
    assert ast.parse(text).body == []  # only comments: nothing in it runs
