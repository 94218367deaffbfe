"""Issue 16's journeys in a real browser, through the real entry (`dashboard/app.py`), its sidebar navigation and
its widgets, as a user goes: Runs -> Open in Train / Compare, Experiments -> Compare these runs, delete, run names,
tags, notes and links, chart controls, the Build page's edits, training from Train (an MLP preset, a second run
while one is shown, a U-Net's predicted masks) and every page at 1400 and 800 px.

Screenshots land in artifacts/screenshots/journey_*.png. Stores are filled with runs written straight into them
(tests/fake_runs.py) wherever a journey does not need a training, so the suite stays within CI's budget."""

from __future__ import annotations

import re
import time
from urllib.parse import unquote

import pytest

from engine.api import get_preset, to_dict
from engine.store import RunStore
from engine.store.experiments import ExperimentStore
from tests.browser_support import (
    body_has,
    browser_missing,
    nav,
    number,
    screenshot,
    select,
    select_rows,
    settled,
    streamlit_server,
    text_in,
    wait_idle,
    widget,
)
from tests.fake_runs import fake_run
from tests.graph_view_support import graph

pytestmark = [pytest.mark.browser, pytest.mark.skipif(bool(browser_missing()), reason=browser_missing() or "ok")]

WIDE, NARROW = 1400, 800


@pytest.fixture(scope="module")
def store_file(tmp_path_factory):
    """Three finished runs with real specs (plain-8 and ResNet-8 style) and an experiment over two of them."""
    path = tmp_path_factory.mktemp("journeys") / "runs.sqlite"
    store = RunStore(path)
    resnet = to_dict(get_preset("resnet8"))
    plain = {**resnet, "shortcut": "none"}
    ids = [fake_run(store, "resnet8", layers=9, spec=resnet),
           fake_run(store, "resnet8 · shortcut none", layers=9, decay=0.3, spec=plain),
           fake_run(store, "resnet8 seed 1", layers=9, spec=resnet)]
    es = ExperimentStore(path)
    exp = es.create("degradation", {}, [{"label": "plain", "seed": 0, "run_id": ids[1], "config": {"steps": 40},
                                         "spec": plain},
                                        {"label": "residual", "seed": 0, "run_id": ids[0], "config": {"steps": 40},
                                         "spec": resnet}])
    es.set_status(exp, "done")
    return path


@pytest.fixture(scope="module")
def server(store_file):
    with streamlit_server(store_file, env={"OMP_NUM_THREADS": "1", "OMP_WAIT_POLICY": "PASSIVE"}) as url:
        yield url


@pytest.fixture
def page(browser, server, request):
    context = browser.new_context(viewport={"width": WIDE, "height": 1000})
    pg = context.new_page()
    pg.set_default_timeout(90_000)
    pg.errors = []
    pg.on("pageerror", lambda e: pg.errors.append(str(e)))
    pg.goto(server)
    settled(pg)
    yield pg
    screenshot(pg, f"journey_last_{request.node.name}")  # where the test stopped, passed or not
    context.close()


def no_exception(page) -> None:  # noqa: ANN001
    """No Streamlit exception box (a traceback) and no error in the page's own scripts."""
    assert page.locator('[data-testid="stException"]').count() == 0, page.locator('[data-testid="stException"]'
                                                                                  ).first.inner_text()
    assert not page.errors, page.errors


def selected(page, label: str) -> str:  # noqa: ANN001
    box = widget(page, "stSelectbox", label)  # the choice is the value of its input (a searchable box)
    return box.locator("input").input_value() if box.locator("input").count() else box.inner_text()


def clipped(page, selector: str) -> list[str]:  # noqa: ANN001
    """Texts of the elements matching ``selector`` cut off by their box (an ellipsis or hidden overflow)."""
    return page.eval_on_selector_all(selector, "els => els.filter(e => e.scrollWidth > e.clientWidth + 1)"
                                               ".map(e => e.innerText)")


def y_tick_labels(page, key: str) -> list[str]:  # noqa: ANN001
    return page.eval_on_selector_all(f".st-key-{key} .ytick text", "els => els.map(e => e.textContent)")


def test_runs_open_in_train_compare_details_and_delete(page, server):
    nav(page, "Runs")
    body_has(page, "3 runs")
    select_rows(page, "runs_table_0", [1])  # the middle run: "#2 resnet8 · shortcut none"
    body_has(page, "Run #2 details")
    # Name, tags and notes; a link to the run.
    text_in(page, "Name", "plain eight")
    text_in(page, "Tags", "baseline, no-skip")
    text_in(page, "Notes", "the plain one", area=True)
    page.get_by_role("button", name="Save name, tags and notes").click()
    settled(page)
    link = page.locator('[data-testid="stCode"]').filter(has_text="train?run=").first.inner_text().strip()
    assert link.endswith("/train?run=2"), link
    screenshot(page, "journey_runs_details")
    no_exception(page)
    # Open in Train: the Train page, showing that run, its id in the URL.
    page.get_by_role("button", name="Open in Train").click()
    page.wait_for_function("() => [...document.querySelectorAll('h1')].some(h => h.innerText.trim() === 'Train')")
    settled(page)
    assert "run=2" in page.url
    assert "#2 plain eight" in selected(page, "Run")
    no_exception(page)
    # The link alone opens the run in a fresh tab.
    page.goto(link.replace("http://localhost:8501", server) if "8501" in link else link)
    settled(page)
    assert "#2 plain eight" in selected(page, "Run")
    # Runs -> Compare with two runs ticked.
    nav(page, "Runs")
    select_rows(page, "runs_table_0", [1, 2])
    page.get_by_role("button", name="Compare", exact=True).click()
    page.wait_for_function("() => [...document.querySelectorAll('h1')].some(h => h.innerText.trim() === 'Compare')")
    settled(page)
    assert re.search(r"runs=(2,1|1,2)", unquote(page.url)), page.url
    body_has(page, "shortcut")  # the spec difference in words: "shortcut A → none" or the reverse
    no_exception(page)
    # Delete: the next run moves into the selected row, never one click from deletion.
    nav(page, "Runs")
    select_rows(page, "runs_table_0", [0])
    page.locator('[data-testid="stCheckbox"]').filter(has_text="Confirm delete").locator("label").click()
    wait_idle(page)
    page.get_by_role("button", name="Delete", exact=True).click()
    settled(page)
    body_has(page, "2 runs")
    assert not page.locator('[data-testid="stCheckbox"]').filter(has_text="Confirm delete").locator(
        "input").is_checked()
    assert page.get_by_role("button", name="Delete", exact=True).is_disabled()
    screenshot(page, "journey_runs_after_delete")
    no_exception(page)


def test_experiments_compare_these_runs(page):
    nav(page, "Experiments")
    page.get_by_role("button", name="Compare these runs").click()
    page.wait_for_function("() => [...document.querySelectorAll('h1')].some(h => h.innerText.trim() === 'Compare')")
    settled(page)
    assert "runs=" in page.url
    no_exception(page)


def test_compare_controls_ticks_and_profile_at_zero(page):
    nav(page, "Compare")
    settled(page)
    body_has(page, "Training loss")
    ticks = [t for t in y_tick_labels(page, "compare_loss") if t]
    assert 2 <= len(ticks) <= 8, ticks  # a log axis, labelled, not stacked
    # Log off: a linear axis, still labelled.
    page.locator('[data-testid="stCheckbox"]').filter(has_text="Log axes").locator("label").click()
    settled(page)
    assert len([t for t in y_tick_labels(page, "compare_loss") if t]) >= 2
    # The profile slider at 0 %: the chart is still drawn (the first logged step).
    slider = page.locator('[data-testid="stSlider"]').filter(has_text="Gradient profile").get_by_role("slider")
    slider.focus()
    page.keyboard.press("Home")
    settled(page)
    body_has(page, "(step 1)")
    assert page.locator(".st-key-compare_profiles .main-svg").count() > 0
    # Compare's architecture diff: totals in full at this width.
    assert not clipped(page, ".st-key-compare_diff_totals [data-testid='stDataFrame']")
    screenshot(page, "journey_compare_controls")
    no_exception(page)


def test_build_edits_names_markers_and_errors(page):
    body_has(page, "A run of this spec is named")
    select(page, "Start from a preset", "resnet20")
    body_has(page, "named: resnet20")
    # Skip edges: From / To stay as chosen after Add; the name says what changed.
    page.get_by_role("tab", name="Skip edges").click()
    select(page, "From", "stage1")
    select(page, "To", "stage3")
    select(page, "Adapter", "projection")
    page.get_by_role("button", name="Add skip").click()
    settled(page)
    assert "stage1" in selected(page, "From") and "stage3" in selected(page, "To")
    body_has(page, "named: resnet20 ·")
    screenshot(page, "journey_build_skip")
    # YAML: a bad edit gets its marker and message; a fix clears every error box.
    page.get_by_role("tab", name="YAML").click()
    area = page.locator('[data-testid="stTextArea"] textarea').first
    good = area.input_value()
    area.fill(good + "\nbogus_key: 1\n")
    page.keyboard.press("Control+Enter")
    settled(page)
    assert page.locator('[data-testid="stAlertContentError"]').count() >= 1
    screenshot(page, "journey_build_bad_key")
    area = page.locator('[data-testid="stTextArea"] textarea').first
    area.fill(good.replace("to: stage3", "to: stage9"))  # an edit that names no node: flagged, its node red
    page.keyboard.press("Control+Enter")
    settled(page)
    body_has(page, "'stage9' is neither a node nor a block")
    banner = graph(page).locator('[data-testid="gv-error"]')  # the drawing carries the message
    banner.wait_for()
    assert "stage9" in banner.inner_text()
    screenshot(page, "journey_build_failing_edit")
    page.get_by_role("tab", name="Skip edges").click()
    body_has(page, "Edit 1 fails")
    page.get_by_role("tab", name="YAML").click()
    area = page.locator('[data-testid="stTextArea"] textarea').first
    area.fill(good)
    page.keyboard.press("Control+Enter")
    settled(page)
    page.wait_for_function("() => !document.querySelector('[data-testid=\"stAlertContentError\"]')")  # none stale
    body_has(page, "named: resnet20 ·")
    screenshot(page, "journey_build_fixed")
    no_exception(page)


def open_new_run(page) -> None:  # noqa: ANN001
    """Open the "New run" panel (collapsed once the store has runs) and leave it open."""
    panel = page.locator('[data-testid="stExpander"]').filter(has_text="New run").first
    if not panel.locator('[data-testid="stRadio"]').first.is_visible():
        panel.locator("summary").click()
        wait_idle(page)


def _start(page, preset: str, steps: int, batch: int = 16) -> None:  # noqa: ANN001
    select(page, "Preset", preset)
    number(page, "Steps", steps)
    number(page, "Batch size", batch)
    number(page, "Log statistics every N steps", 2)
    page.get_by_role("button", name="Start", exact=True).click()
    settled(page, quiet_ms=500)


def test_train_mlp_then_a_second_run_is_the_one_shown(page):
    nav(page, "Train")
    open_new_run(page)
    # An error stays inside the open panel: File without a spec file.
    page.locator('[data-testid="stRadio"]').filter(has_text="Architecture").get_by_text("File").click()
    wait_idle(page)
    page.get_by_role("button", name="Start", exact=True).click()
    settled(page)
    body_has(page, "choose a spec file first")
    assert "at most 512 KB" in page.locator('[data-testid="stFileUploader"]').inner_text()  # the loader's cap
    page.locator('[data-testid="stRadio"]').filter(has_text="Architecture").get_by_text("Preset").click()
    wait_idle(page)
    # An MLP preset trains from Train: its dataset and `flatten` are chosen to fit it.
    select(page, "Preset", "plain_mlp50")
    assert "digits" in selected(page, "Dataset")
    t0 = time.monotonic()
    _start(page, "plain_mlp50", 60)
    first = int(re.search(r"run=(\d+)", page.url).group(1))
    page.get_by_text("Gradient flow:").first.wait_for(timeout=180_000)
    first_chart_s = time.monotonic() - t0
    # A second run started while the first is shown becomes the one shown, its status live on the bar.
    _start(page, "residual_mlp50", 30)
    page.wait_for_function(f"() => /run=(\\d+)/.exec(location.href) && +/run=(\\d+)/.exec(location.href)[1] > {first}")
    second = int(re.search(r"run=(\d+)", page.url).group(1))
    assert f"#{second} residual_mlp50" in selected(page, "Run")
    page.wait_for_function("() => /(done|diverged|failed|cancelled) · step/.test(document.body.innerText)",
                           timeout=240_000)
    assert not re.search(r"(running|queued)", selected(page, "Run"))  # labels carry no status to go stale
    screenshot(page, "journey_train_mlp_second_run")
    print(f"time to first live chart: {first_chart_s:.1f} s")
    no_exception(page)


def test_unet_shows_predicted_masks(page):
    nav(page, "Train")
    open_new_run(page)
    select(page, "Preset", "unet_small")
    assert "shapes_seg" in selected(page, "Dataset")
    _start(page, "unet_small", 20, batch=8)
    page.get_by_text("Predicted masks").first.wait_for(timeout=240_000)
    body_has(page, "done ·", timeout=240_000)
    settled(page)
    screenshot(page, "journey_train_unet_masks")
    no_exception(page)


@pytest.mark.parametrize("width", [WIDE, NARROW])
def test_every_page_at_width(page, width):
    page.set_viewport_size({"width": width, "height": 1000})
    for title in ("Build", "Blocks", "Lessons", "Train", "Compare", "Runs", "Experiments"):
        nav(page, title)
        settled(page)
        screenshot(page, f"journey_{title.lower()}_{width}")
        assert not clipped(page, '[data-testid="stMetricValue"]'), title
        no_exception(page)
