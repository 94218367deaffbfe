"""AppTest for every page: no exception, the figures a user checks, errors shown and the app still usable."""

import json
import time

import pytest
from streamlit.testing.v1 import AppTest

from dashboard.text import plain
from engine.store import RunStore
from tests.fake_runs import fake_run

APP = "../dashboard/app.py"


def app() -> AppTest:
    return AppTest.from_file(APP, default_timeout=120).run()


def metrics(at: AppTest) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


def graph_models(at: AppTest) -> list[dict]:
    """The models the graph view components were given (AppTest does not run their JavaScript)."""
    return [json.loads(json.loads(c.proto.json_args)["model"]) for c in at.get("component_instance")]


@pytest.fixture(autouse=True)
def private_store(store_path):
    return store_path


def test_build_resnet50_params():
    at = app()
    assert not at.exception
    at.selectbox(key="build_preset").set_value("resnet50").run()
    assert not at.exception
    assert metrics(at)["Parameters"] == "25,557,032"
    assert at.query_params["spec"]  # the link carries the spec


def test_build_bad_yaml_shows_error_and_app_stays_usable():
    at = app()
    yaml_box = next(t for t in at.text_area if t.key.startswith("build_yaml_"))
    yaml_box.input("family: resnet\nstages: [{blocks: 1, width: -4}]\n").run()
    assert not at.exception
    assert any("stages[0].width: must be a positive integer, got -4" in plain(e.value) for e in at.error)
    at.selectbox(key="build_preset").set_value("resnet18").run()
    assert not at.exception and metrics(at)["Parameters"] == "11,689,512"


def test_build_yaml_fix_after_a_failing_edit_clears_every_error():
    """Issue 16: the box for the first text kept the failing text typed into it; the fix brought it back on screen
    and the two boxes re-applied each other for ever (the "stale error box")."""
    at = app()
    good = next(t for t in at.text_area if t.key.startswith("build_yaml_")).value
    box = next(t for t in at.text_area if t.key.startswith("build_yaml_"))
    box.input(good.replace("edits: []", "edits:\n- add_skip: {from: stage1, to: stage9}")).run(timeout=60)
    assert any("Edit 1 fails" in plain(e.value) for e in at.error)
    drawn = graph_models(at)  # the marker where the skip starts: that node drawn red in the graph view
    assert drawn and any(n["error"] for n in drawn[0]["nodes"])
    next(t for t in at.text_area if t.key.startswith("build_yaml_")).input(good).run(timeout=60)
    assert not at.exception and not at.error
    assert at.session_state["build_spec"]["edits"] == []


def test_build_shape_error_names_the_node():
    at = app()
    at.selectbox(key="build_preset").set_value("densenet121").run()
    at.text_input(key=f"build_k{at.session_state['build_rev']}_input").input("3,16,16").run()
    assert not at.exception
    assert any("transition3.pool" in plain(e.value) and "too small" in plain(e.value) for e in at.error)
    drawn = graph_models(at)  # drawn, with the node in red
    assert drawn and any(n["error"] and n["name"] == "transition3.pool" for n in drawn[0]["nodes"])


def test_build_add_skip_edge_changes_counts():
    at = app()
    before = metrics(at)
    rev = at.session_state["build_rev"]
    at.selectbox(key="build_from").set_value("stage1")
    at.selectbox(key="build_to").set_value("stage3")
    at.selectbox(key="build_adapter").set_value("projection")
    at.button(key=f"build_add{rev}").click().run()
    assert not at.exception, at.exception
    after = metrics(at)
    assert after["Parameters"] != before["Parameters"]
    assert at.session_state["build_spec"]["edits"][0]["add_skip"]["to"] == "stage3"


def test_build_crosscheck_panel_reconciles():
    at = app()
    at.button(key="build_xcheck").click().run()
    assert not at.exception
    table = at.dataframe[-1].value
    assert set(table["tool"]) >= {"fvcore", "flop_counter", "torchinfo"}
    assert (table["explained"] == "✓").all()


def test_blocks_ratio_at_256():
    at = app()
    at.switch_page("../pages/blocks.py").run()
    assert not at.exception
    assert metrics(at)["Conv-weight ratio"] == "16.9x"
    assert (at.dataframe[0].value["match"] == "✓").all()


def test_runs_and_compare_pages_with_runs(store_path):
    store = RunStore(store_path)
    a, b = fake_run(store, "plain", decay=0.3), fake_run(store, "residual", decay=0.95)
    at = app()
    at.switch_page("../pages/runs.py").run()
    assert not at.exception
    assert set(at.dataframe[0].value["id"]) == {a, b}
    at.switch_page("../pages/compare.py").run()
    assert not at.exception
    assert len(at.get("plotly_chart")) >= 4  # loss, accuracy, profiles, heatmaps
    assert any("Δ params" in d.value.columns for d in at.dataframe)  # the architecture diff


def test_pages_without_runs_explain_what_to_do():
    at = app()
    for page in ("runs", "compare", "train"):
        at.switch_page(f"../pages/{page}.py").run()
        assert not at.exception, page
        assert at.info, page


@pytest.mark.slow
def test_train_page_runs_a_tiny_training_to_done(store_path):
    at = app()
    at.switch_page("../pages/train.py").run()
    at.number_input(key="train_steps").set_value(12)
    at.number_input(key="train_batch").set_value(16)
    at.number_input(key="train_log_every").set_value(2)
    at.button(key="train_start").click().run()
    assert not at.exception and not at.error
    deadline = time.monotonic() + 240
    status = ""
    while time.monotonic() < deadline:
        at.run()  # run_every fragments do not fire in AppTest: poll
        status = RunStore(store_path).list_runs()[0]["status"]
        if status not in ("queued", "running"):
            break
        time.sleep(1)
    at.run()
    assert status == "done", RunStore(store_path).list_runs()[0]
    assert not at.exception
    assert "done" in at.get("progress")[0].proto.text
    assert len(at.get("plotly_chart")) >= 4  # loss, accuracy, gradient flow, heatmap ...
    drawn = graph_models(at)  # the architecture painted with the layers' gradient norms, read only
    assert drawn and drawn[-1]["meta"]["readonly"] and drawn[-1]["meta"]["legend"]["stat"] == "grad_norm"
    assert sum(1 for n in drawn[-1]["nodes"] if n["value_colour"]) > 0
