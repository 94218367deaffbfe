"""Real browser: open a run's landscape through the app's own navigation, compute a small surface in the page's
child process and see the contour and 3-D surface; the shattering tab draws its curves. Screenshots land in
artifacts/screenshots/ (landscape_surface.png, landscape_shatter.png)."""

from __future__ import annotations

import pytest

from engine.store import RunStore
from engine.train.record import create_run, run_and_record
from tests.browser_support import browser_missing, screenshot, streamlit_server, wait_idle

pytestmark = [pytest.mark.browser, pytest.mark.skipif(bool(browser_missing()), reason=browser_missing() or "ok")]

SPEC = {"family": "resnet", "name": "tiny_resnet", "input": [3, 16, 16], "num_classes": 10,
        "stages": [{"blocks": 1, "width": 4}, {"blocks": 1, "width": 8, "stride": 2}]}
CONFIG = {"dataset": "shapes", "dataset_options": {"size": 16, "train_size": 64, "val_size": 16}, "steps": 5,
          "batch_size": 16, "device": "cpu", "val_every": 0, "act_every": 0}


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    store_path = tmp_path_factory.mktemp("browser_landscape") / "runs.sqlite"
    store = RunStore(store_path)
    run_id = create_run(store, SPEC, CONFIG, status="running")
    for _ in run_and_record(store, run_id):
        pass
    with streamlit_server(store_path) as url:
        yield url


def number(page, label: str, value: str) -> None:  # noqa: ANN001
    box = page.locator('[data-testid="stNumberInput"]').filter(has_text=label).first.locator("input")
    box.fill(value)


def test_open_a_runs_landscape_and_see_the_surface(server, page):
    page.goto(server)
    wait_idle(page)
    page.get_by_role("link", name="Landscape").click()  # the app's own navigation (sidebar)
    wait_idle(page)
    page.get_by_text("Compute a surface").first.wait_for()
    number(page, "Grid", "7")
    number(page, "Samples", "32")
    page.locator('[data-testid="stSelectbox"]').filter(has_text="Hessian").first.locator("input").click()
    page.get_by_role("option", name="none").click()
    page.get_by_role("button", name="Compute").click()
    page.get_by_text("Around the trained weights of").first.wait_for(timeout=240_000)
    wait_idle(page)
    plots = page.locator(".js-plotly-plot")
    page.wait_for_function("() => document.querySelectorAll('.js-plotly-plot').length >= 2")
    assert plots.count() >= 2
    assert page.locator(".js-plotly-plot .contour").count() >= 1  # the contour is drawn, not an empty frame
    assert page.locator(".js-plotly-plot .gl-container, .js-plotly-plot canvas").count() >= 1  # the 3-D scene
    screenshot(page, "landscape_surface")


def test_shattering_tab_draws_the_curves(server, page):
    page.goto(f"{server}/landscape")
    wait_idle(page)
    page.get_by_role("tab", name="Shattered gradients at init").click()
    number(page, "Points on the line", "32")
    number(page, "Initialisations", "1")
    page.get_by_role("button", name="Measure").click()
    page.get_by_text("At initialisation, along a line of").first.wait_for(timeout=240_000)
    wait_idle(page)
    page.get_by_text("Autocorrelation of dLoss/dInput").first.wait_for()
    screenshot(page, "landscape_shatter")
