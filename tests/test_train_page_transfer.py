"""The Train page's checkpoint options: check a checkpoint (the report, shown as literal text), start a run from a
previous run with frozen stages, and a fine-tuned run's view: frozen layers drawn as such, not as a vanishing
gradient."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from dashboard.run_charts import frozen_spans, gradient_flow
from dashboard.runs_data import first_last_ratio
from dashboard.text import plain
from dashboard.train_form import init_config, init_source
from engine.api import SkipLabError
from engine.cli import main
from engine.store import RunStore

pytestmark = pytest.mark.usefixtures("one_torch_thread")

SPEC = {"family": "resnet", "input": [3, 16, 16], "num_classes": 10, "stages": [{"blocks": 1, "width": w}
                                                                                 for w in (16, 32, 64)]}  # resnet8


def _train(tmp_path: Path, store: Path, *extra: str) -> int:
    spec = tmp_path / "net.json"
    spec.write_text(json.dumps(SPEC))
    args = ["train", str(spec), "--dataset", "shapes", "--data", "size=16", "--data", "train_size=32", "--data",
            "val_size=16", "--steps", "4", "--batch-size", "16", "--device", "cpu", "--log-every", "2",
            "--store", str(store), "--quiet", *extra]
    assert main(args) == 0
    return RunStore(store).list_runs()[0]["id"]


def _page() -> AppTest:
    at = AppTest.from_file("../dashboard/app.py", default_timeout=120).run()
    at.switch_page("../pages/train.py").run()
    assert not at.exception
    return at


def test_check_a_previous_run_then_start_from_it_frozen(tmp_path: Path, store_path: Path) -> None:
    first = _train(tmp_path, store_path)
    at = _page()
    at.radio(key="train_source").set_value("File")
    at.radio(key="train_init_kind").set_value("A previous run").run()  # the run picker is enabled by the choice
    at.selectbox(key="train_init_run").set_value(first)
    at.button(key="train_check").click().run()  # Check checkpoint (File without an upload: an error)
    assert any("choose a spec file first" in plain(e.value) for e in at.error)
    at.radio(key="train_source").set_value("Preset").run()
    at.selectbox(key="train_preset").set_value("resnet8")
    at.button(key="train_check").click().run()
    assert not at.exception
    assert any("maps onto this architecture" in plain(s.value) for s in at.success)
    assert any("SkipLab layout: loaded" in c.value for c in at.code)
    at.selectbox(key="train_freeze").set_value("stage4")
    at.button(key="train_start").click().run()  # Start: refused, the spec has 3 stages
    assert any("this spec has 3 stage(s)" in plain(e.value) for e in at.error)
    assert len(RunStore(store_path).list_runs()) == 1


def test_fine_tuned_run_draws_frozen_layers_as_frozen(tmp_path: Path, store_path: Path) -> None:
    first = _train(tmp_path, store_path)
    second = _train(tmp_path, store_path, "--init-from", f"run:{first}", "--freeze", "stage1")
    at = _page()
    at.selectbox(key="train_watch").set_value(second).run()
    assert not at.exception
    assert any("Started from run:" in t.value and "frozen: 6 layers" in t.value for t in at.text)
    charts = [c.proto.spec for c in at.get("plotly_chart")]
    assert any("frozen: no gradient by design" in c for c in charts)  # the gradient-flow band
    drawn = [json.loads(json.loads(c.proto.json_args)["model"]) for c in at.get("component_instance")]
    frozen = {n["name"] for n in drawn[-1]["nodes"] if n["frozen"]}  # the architecture drawing, hatched
    assert frozen and all(name.startswith(("stem", "stage1")) for name in frozen)
    assert not at.warning  # no vanishing-gradient alert for the frozen stem and stage1
    steps, ratio = first_last_ratio(RunStore(store_path), second)
    assert len(ratio) and np.all(ratio > 0)  # first trained layer over the last: finite, not 0 / x


def test_form_helpers_and_frozen_spans() -> None:
    assert init_source("Fresh initialisation", "", None) is None
    assert init_source("A previous run", "", 4) == "run:4"
    with pytest.raises(SkipLabError, match="give the path"):
        init_source("Checkpoint file", "  ", None)
    assert init_config("run:4", "stage2", True, 0.1) == {"init_from": "run:4", "new_head": True,
                                                         "loaded_lr_scale": 0.1, "freeze": "stage2"}
    assert init_config(None, "nothing", False, 1.0) == {}
    assert frozen_spans([True, True, False, True]) == [(0, 1), (3, 3)]
    fig = gradient_flow(["a", "b", "c"], ["s", "s", "t"], np.array([0.0, 1.0, 2.0]), np.array([0.0, 1.0, 2.0]),
                        frozen=[True, False, False])
    assert len(fig.layout.shapes) == 1 and fig.layout.shapes[0].x1 == 0.5
