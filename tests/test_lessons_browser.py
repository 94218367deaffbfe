"""The Lessons journey in a real browser, through the app's own navigation: from the first page's sidebar link to
Lessons, run the first lesson with a few steps, read the conclusion beside the charts; then Train, where the newest
run says why its gradient looks as it does and links the lesson that shows it. Screenshots at 1400 and 800 px
(artifacts/screenshots/lessons_*.png)."""

import pytest

from tests.browser_support import CHROMIUM, CHROMIUM_FLAGS, browser_missing, screenshot, streamlit_server, wait_idle

pytestmark = [pytest.mark.browser, pytest.mark.skipif(bool(browser_missing()), reason=browser_missing() or "ok")]

STEPS = 6  # the lesson's pair at 6 steps: seconds of training; the gradient at init is the same as at 300


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    store = tmp_path_factory.mktemp("lessons_browser") / "runs.sqlite"
    with streamlit_server(store) as url:
        yield url


def test_run_a_lesson_and_read_its_conclusion(server):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.set_default_timeout(60_000)
        page.goto(server)
        wait_idle(page)
        page.locator("[data-testid=stSidebar]").get_by_text("Start with the lessons").click()
        page.get_by_text("Not run yet at these settings").wait_for()
        screenshot(page, "lessons_start_1400")
        steps = page.locator('[data-testid="stNumberInput"]').filter(has_text="Steps").locator("input")
        steps.fill(str(STEPS))
        page.get_by_role("button", name="Run lesson").click()
        page.get_by_text("What the runs show").wait_for(timeout=300_000)  # both runs done: the conclusion
        wait_idle(page)
        body = page.locator("body").inner_text().replace("\u2060", "")  # md() joins ":" to the next word
        assert "plain: the first layer gets" in body and "residual: the first layer gets" in body
        assert "Showed: plain's gradient vanishes toward the input" in body  # at init: the same at any length
        assert "One seed, one pair" in body
        page.wait_for_function("() => document.querySelectorAll('[data-testid=\"stPlotlyChart\"]').length >= 4")
        page.mouse.move(0, 0)  # no tooltip over the page
        for width in (1400, 800):
            # Streamlit scrolls inside its main container, so a full-page shot needs a viewport as tall as the page
            page.set_viewport_size({"width": width, "height": 3400 if width == 800 else 2400})
            page.wait_for_timeout(1500)  # the layout and the charts reflow
            screenshot(page, f"lessons_done_{width}")
        page.set_viewport_size({"width": 1400, "height": 1000})
        page.locator('[data-testid="stSidebarNav"]').get_by_text("Train", exact=True).click()
        page.get_by_text("of the last layer's gradient").first.wait_for()
        wait_idle(page)
        page.mouse.move(0, 0)
        # the newest run is the lesson's residual MLP: it keeps its gradient, and no normalisation is why not
        body = page.locator("body").inner_text().replace("\u2060", "")
        assert "it keeps its size" in body and "a shortcut around the layers" in body
        page.set_viewport_size({"width": 1400, "height": 1500})
        page.wait_for_timeout(1500)
        screenshot(page, "lessons_train_hint_1400")
        page.set_viewport_size({"width": 1400, "height": 1000})
        page.locator('[data-testid="stPageLink"]').filter(has_text="50-layer MLP, plain vs residual").first.click()
        page.get_by_text("Does the gradient reach the first layer").wait_for()
        wait_idle(page)
        assert "lesson=vanishing_mlp" in page.url
        page.get_by_text("What the runs show").wait_for()  # the page opens on the pair just run (6 steps)
        browser.close()
