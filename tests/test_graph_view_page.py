"""The Build page's graph view under AppTest (its JavaScript does not run here; the model it is given does):
a run's per-layer statistics painted at a chosen step, the graph family's palette and node editor."""

import json

import numpy as np
from streamlit.testing.v1 import AppTest

from dashboard.text import plain
from engine.api import RunStore, expand

APP = "../dashboard/app.py"


def app() -> AppTest:
    return AppTest.from_file(APP, default_timeout=120).run()


def drawn(at: AppTest) -> dict:
    (component,) = at.get("component_instance")
    return json.loads(json.loads(component.proto.json_args)["model"])


def test_a_runs_gradients_are_painted_at_the_chosen_step(store_path):
    layers = [n.name for n in expand("resnet20").compute_nodes() if n.op in ("conv2d", "linear")]
    store = RunStore(store_path)
    run_id = store.create_run("r20", {"family": "resnet", "name": "resnet20"}, {"steps": 3}, "shapes", "cpu")
    store.set_layers(run_id, [{"name": name, "op": "conv2d"} for name in layers])
    for step in (1, 2, 3):
        store.log_layer_stats(run_id, step, {"grad_norm": np.full(len(layers), 10.0 ** -step, np.float32),
                                             "grad_max_abs": np.ones(len(layers), np.float32)})
    at = app()
    assert drawn(at)["meta"]["legend"] is None  # nothing painted until a run is picked
    at.selectbox(key="build_paint_run").set_value(run_id).run()
    assert not at.exception
    model = drawn(at)
    assert model["meta"]["legend"]["step"] == 3 and model["meta"]["legend"]["stat"] == "grad_norm"
    conv = next(n for n in model["nodes"] if n["name"] == layers[1])
    assert conv["stats"]["grad_norm"] == np.float32(1e-3) and conv["value_colour"]
    at.select_slider(key=f"build_paint_step{run_id}").set_value(1).run()
    model = drawn(at)
    assert model["meta"]["legend"]["step"] == 1
    assert next(n for n in model["nodes"] if n["name"] == layers[1])["stats"]["grad_norm"] == np.float32(0.1)


def test_the_graph_familys_palette_adds_a_node(store_path):
    at = app()
    at.selectbox(key="build_family").set_value("graph").run()
    assert not at.exception
    assert [n["id"] for n in drawn(at)["nodes"]] == ["input"]
    at.selectbox(key="build_pal_op").set_value("conv2d").run()
    at.button(key="build_pal_add").click().run()
    assert not at.exception
    nodes = at.session_state["build_spec"]["nodes"]
    assert nodes == [{"name": "conv2d1", "op": "conv2d", "in": [], "out_channels": 16}]
    model = drawn(at)
    assert next(n for n in model["nodes"] if n["id"] == "conv2d1")["error"]  # not wired yet: drawn red
    assert any("takes 1 input" in plain(e.value) for e in at.error)
