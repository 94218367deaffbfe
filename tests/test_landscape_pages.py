"""The Landscape page, the Compare page's landscape section and the figure builders, on surfaces written straight
into the store (no computation): AppTest, no exception, the figures drawn, user text kept literal."""

from __future__ import annotations

import json

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from dashboard import landscape_charts as lc
from engine.lab.landscape.measures import surface_measures
from engine.store import RunStore
from engine.store.landscapes import LandscapeStore
from tests.fake_runs import fake_run

APP = "../dashboard/app.py"


def fake_surface(shape: str = "bowl", grid: int = 9, seed: int = 0, name: str = "run") -> dict:
    a = np.linspace(-1, 1, grid)
    aa, bb = np.meshgrid(a, a)
    f = 0.1 + aa ** 2 + bb ** 2 if shape == "bowl" else 1.5 + np.sin(6 * aa) * np.cos(5 * bb) + aa ** 2
    f[0, 0] = np.inf if shape != "bowl" else f[0, 0]  # an overflowed point
    loss = [[None if not np.isfinite(v) else float(v) for v in row] for row in f]
    mid = grid // 2
    return {"dim": 2, "direction": "random", "alphas": a.tolist(), "betas": a.tolist(), "loss": loss,
            "center_loss": loss[mid][mid], "grid": grid, "span": 1.0, "seed": seed, "samples": 64, "batch_size": 64,
            "device": "cpu", "run_name": name, "measures": surface_measures(loss, a.tolist(), a.tolist(),
                                                                              loss[mid][mid]),
            "hessian": {"center": {"lambda_min": -0.1, "lambda_max": 2.0, "ratio": 0.05}, "alphas": [-1, 0, 1],
                        "betas": [-1, 0, 1], "ratio": [[0.1, 0.2, 0.3]] * 3, "lambda_min": [[0.0] * 3] * 3,
                        "lambda_max": [[1.0] * 3] * 3, "ratio_mean": 0.2}}


def store_surface(path, run_id: int, result: dict) -> int:
    ls = LandscapeStore(path)
    job = ls.create("surface", {"dim": result["dim"], "direction": result["direction"], "grid": result["grid"],
                                "span": 1.0, "seed": result["seed"]}, run_id, status="running")
    ls.set_result(job, {**result, "run_id": run_id, "job_id": job})
    ls.transition(job, ("running",), "done")
    return job


def with_weights(store: RunStore, name: str, tmp_path) -> int:
    run_id = fake_run(store, name)
    (tmp_path / f"{run_id}.pt").write_bytes(b"")
    store.set_summary(run_id, {"steps": 40.0, "loss": 0.1, "weights_path": str(tmp_path / f"{run_id}.pt")})
    return run_id


def test_figure_builders():
    bowl, rough = fake_surface(), fake_surface("rough")
    zr = lc.shared_range([bowl, rough])
    assert zr is not None and zr[0] < zr[1]
    c = lc.loss_contour(rough, title="<b>x</b>", zrange=zr)
    assert c.data[0].zmin == zr[0] and c.data[0].zmax == zr[1]
    assert c.data[0].z[0][0] is None  # the overflowed point is a gap, not a number
    assert "&lt;b&gt;" in c.layout.title.text  # user text stays literal
    assert lc.loss_surface_3d(bowl, zrange=zr).data[0].cmax == zr[1]
    assert lc.curvature_map(bowl).data[0].zmax == 1.0
    assert lc.surface_curvature_map(bowl) is not None
    one = {**bowl, "dim": 1, "loss": bowl["loss"][4], "direction": "init"}
    fig = lc.curves_1d({"a": one, "b": one})
    assert len(fig.data) == 2
    rows = lc.measures_rows({"bowl": bowl, "rough": rough})
    assert rows[0]["non-convex points"] == 0.0 and rows[1]["non-convex points"] > 0.2


def test_landscape_page_shows_a_stored_surface(store_path, tmp_path):
    store = RunStore(store_path)
    run_id = with_weights(store, "resnet *bold* <i>", tmp_path)
    store_surface(store_path, run_id, fake_surface(name="resnet *bold* <i>"))
    at = AppTest.from_file(APP, default_timeout=120).run()
    at.switch_page("../pages/landscape.py").run()
    assert not at.exception
    keys = {c.key for c in at.get("plotly_chart")}
    assert any(k.endswith("_contour") for k in keys) and any(k.endswith("_surface") for k in keys)
    texts = [t.value for t in at.text]
    assert any("resnet *bold* <i>" in t and "nearly convex" in t for t in texts)  # literal, not Markdown


def test_landscape_page_without_runs_says_what_to_do(store_path):
    at = AppTest.from_file(APP, default_timeout=120).run()
    at.switch_page("../pages/landscape.py").run()
    assert not at.exception and at.info


def test_compare_page_puts_two_surfaces_on_one_scale(store_path, tmp_path):
    store = RunStore(store_path)
    a, b = with_weights(store, "plain", tmp_path), with_weights(store, "residual", tmp_path)
    store_surface(store_path, a, fake_surface("rough", name="plain"))
    store_surface(store_path, b, fake_surface(name="residual"))
    at = AppTest.from_file(APP, default_timeout=120).run()
    at.session_state["compare_runs"] = [a, b]
    at.switch_page("../pages/compare.py").run()
    assert not at.exception
    charts = [c for c in at.get("plotly_chart") if c.key.startswith("compare_landscape_") and c.key[-1].isdigit()]
    assert len(charts) == 2
    traces = [json.loads(c.proto.spec)["data"][0] for c in charts]  # side by side, on one colour scale
    assert traces[0]["zmin"] == traces[1]["zmin"] and traces[0]["zmax"] == traces[1]["zmax"]
    assert [t.get("showscale", True) for t in traces] == [False, True]  # one colour bar for both
    assert any("plain is the more non-convex" in t.value for t in at.text)
    at.segmented_control(key="compare_landscape_view").set_value("3-D").run()  # the 3-D view shares the scale too
    assert not at.exception
    traces = [json.loads(c.proto.spec)["data"][0] for c in at.get("plotly_chart")
              if c.key.startswith("compare_landscape_") and c.key[-1].isdigit()]
    assert traces[0]["type"] == "surface" and traces[0]["cmax"] == traces[1]["cmax"]


@pytest.mark.parametrize("status", ["running", "failed"])
def test_landscape_page_shows_progress_or_the_error(store_path, tmp_path, status):
    store = RunStore(store_path)
    run_id = with_weights(store, "r", tmp_path)
    ls = LandscapeStore(store_path)
    job = ls.create("surface", {"dim": 2, "grid": 21, "span": 1.0, "seed": 0}, run_id, status="running")
    ls.set_progress(job, 0.4, "loss 180/441")
    if status == "failed":
        ls.transition(job, ("running",), "failed", "out of memory")
    at = AppTest.from_file(APP, default_timeout=120).run()
    at.switch_page("../pages/landscape.py").run()
    assert not at.exception
    assert any("loss 180/441" in p.value["text"] if isinstance(p.value, dict) else True for p in at.get("progress"))
    if status == "failed":
        assert any("out of memory" in t.value for t in at.text)
