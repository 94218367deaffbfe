"""The real-browser suite: Playwright driving headless Debian Chromium against a live Streamlit server.

Screenshots of each page land in artifacts/screenshots/. Skipped (with the reason) where Chromium or the
playwright package is missing; `.ci/run` installs both, so CI runs it.
"""

import pytest

from tests.browser_support import (
    browser_missing,
    number,
    screenshot,
    select,
    streamlit_server,
    wait_idle,
)

pytestmark = [pytest.mark.browser, pytest.mark.skipif(bool(browser_missing()), reason=browser_missing() or "ok")]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    store = tmp_path_factory.mktemp("browser") / "runs.sqlite"
    with streamlit_server(store) as url:
        yield url


def metric(page, label: str) -> str:
    m = page.locator('[data-testid="stMetric"]').filter(has_text=label).first
    return m.locator('[data-testid="stMetricValue"]').inner_text()


def test_build_resnet50_and_see_params(server, page):
    page.goto(server)
    page.get_by_text("Start from a preset").wait_for()
    wait_idle(page)
    select(page, "Start from a preset", "resnet50")
    page.wait_for_function("() => document.body.innerText.includes('25,557,032')")
    assert metric(page, "Parameters") == "25,557,032"
    assert "spec=" in page.url  # the link reproduces the view
    screenshot(page, "build_resnet50")
    # The link alone reproduces the view in a fresh page.
    link = page.url
    page.goto("about:blank")
    page.goto(link)
    page.wait_for_function("() => document.body.innerText.includes('25,557,032')")


def test_bad_yaml_shows_error_and_app_stays_usable(server, page):
    page.goto(server)
    wait_idle(page)
    page.get_by_role("tab", name="YAML").click()
    area = page.locator("textarea").first
    area.fill("family: resnet\nstages: [{blocks: 1, width: -4}]\n")
    page.keyboard.press("Control+Enter")
    wait_idle(page)
    page.get_by_text("must be a positive integer, got -4").first.wait_for()
    screenshot(page, "build_bad_yaml")
    select(page, "Start from a preset", "resnet18")
    page.wait_for_function("() => document.body.innerText.includes('11,689,512')")


def test_add_skip_edge_changes_counts(server, page):
    page.goto(server)
    wait_idle(page)
    before = metric(page, "Parameters")
    page.get_by_role("tab", name="Skip edges").click()
    select(page, "From", "stage1")
    select(page, "To", "stage3")
    select(page, "Adapter", "projection")
    page.get_by_role("button", name="Add skip").click()
    wait_idle(page)
    page.wait_for_function(f"() => !document.body.innerText.includes('{before}')")
    assert metric(page, "Parameters") != before
    screenshot(page, "build_skip_edge")


def test_blocks_shows_ratio(server, page):
    page.goto(f"{server}/blocks")
    wait_idle(page)
    page.get_by_text("Conv-weight ratio").wait_for()
    assert metric(page, "Conv-weight ratio") == "16.9x"
    screenshot(page, "blocks")


def test_train_live_then_runs_and_reattach(server, page):
    page.goto(f"{server}/train")
    wait_idle(page)
    number(page, "Steps", 30)  # by its exact label: "Log statistics every N steps" holds "steps" too
    number(page, "Batch size", 16)
    page.get_by_role("button", name="Start").click()
    # The gradient-flow chart appears while the run goes ...
    page.get_by_text("per layer at step").first.wait_for(timeout=180_000)
    first = page.get_by_text("per layer at step").first.text_content()
    screenshot(page, "train_live")
    # ... a reload mid-run re-attaches to it (state lives in the store, not the browser session) ...
    page.reload()
    page.get_by_text("per layer at step").first.wait_for(timeout=120_000)
    # ... the chart updates and the run ends done.
    page.wait_for_function("() => document.body.innerText.includes('done ·')", timeout=240_000)
    last = page.get_by_text("per layer at step").first.text_content()
    assert last != first
    screenshot(page, "train_done")
    page.goto(f"{server}/runs")
    wait_idle(page)
    page.get_by_text("1 done").first.wait_for()
    screenshot(page, "runs")
    page.goto(f"{server}/compare")
    wait_idle(page)
    page.get_by_text("Architecture diff").wait_for()
    screenshot(page, "compare")
