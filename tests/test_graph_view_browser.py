"""The graph view in a real browser (headless Debian Chromium against a live Streamlit server), driven through the
Build page's own widgets and the drawing itself: drag a skip edge and click it away, an edge that does not fit
drawn red beside its message, a stage folded and unfolded, and a network drawn from nothing and trained.
Screenshots of resnet50, densenet121 and unet land in artifacts/screenshots/."""

import pytest

from tests.browser_support import (
    ARTIFACTS,
    browser_missing,
    number,
    screenshot,
    select,
    streamlit_server,
    wait_idle,
)
from tests.graph_view_support import FRAME, click_edge, drag, graph, graph_state, show_all, wait_drawn

pytestmark = [pytest.mark.browser, pytest.mark.skipif(bool(browser_missing()), reason=browser_missing() or "ok")]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    store = tmp_path_factory.mktemp("graph_browser") / "runs.sqlite"
    with streamlit_server(store) as url:
        yield url


@pytest.fixture(scope="module")
def context(browser):
    """One browser context for the module: the component's files load once (cached), each test opens the app anew."""
    ctx = browser.new_context(viewport={"width": 1400, "height": 1000})
    yield ctx
    ctx.close()


@pytest.fixture
def page(context, server):
    pg = context.new_page()
    pg.set_default_timeout(60_000)
    pg.goto(server)
    wait_idle(pg)
    wait_drawn(pg, timeout=180)  # the first drawing of a fresh page: a loaded CI machine takes its time
    yield pg
    pg.close()


def metric(page, label: str) -> str:
    m = page.locator('[data-testid="stMetric"]').filter(has_text=label).first
    return m.locator('[data-testid="stMetricValue"]').inner_text()


def wait_metric_change(page, label: str, before: str) -> str:
    page.wait_for_function(
        """([label, before]) => { const m = [...document.querySelectorAll('[data-testid="stMetric"]')]
             .find(x => x.innerText.includes(label));
           return m && m.querySelector('[data-testid="stMetricValue"]').innerText !== before; }""",
        arg=[label, before], timeout=60_000)
    return metric(page, label)


def yaml_text(page) -> str:
    page.get_by_role("tab", name="YAML").click()
    return page.locator("textarea").first.input_value()


def test_drag_a_skip_edge_then_click_it_away(page):
    before = metric(page, "Parameters")  # resnet20, the default
    show_all(page)
    drag(page, "group:stage1.block0", "group:stage2.block1")
    popup = graph(page).locator('[data-testid="gv-connect"]')
    popup.locator('select[aria-label="adapter"]').select_option("projection")
    popup.get_by_role("button", name="Add skip").click()
    after = wait_metric_change(page, "Parameters", before)
    assert int(after.replace(",", "")) > int(before.replace(",", ""))  # the projection's 1x1 conv + BN
    text = yaml_text(page)
    assert "add_skip" in text and "stage2.block1" in text and "projection" in text
    wait_idle(page)
    wait_drawn(page, lambda s: s["nodes"] == 75)  # resnet20's 72 + adapter conv, bn and the merge
    screenshot(page, "graph_resnet20_skip")
    show_all(page)
    click_edge(page, ".react-flow__edge.gv-edit")
    edge_menu = graph(page).locator('[data-testid="gv-edge"]')
    edge_menu.get_by_role("button", name="Remove skip").click()
    assert wait_metric_change(page, "Parameters", after) == before
    assert "add_skip" not in yaml_text(page)


def test_an_edge_that_does_not_fit_is_red_beside_its_message(page):
    show_all(page)
    drag(page, "group:stage1.block0", "group:stage3.block0")  # 16x32x32 into 64x8x8, no adapter
    graph(page).locator('[data-testid="gv-connect"]').get_by_role("button", name="Add skip").click()
    page.get_by_text("This architecture does not build").wait_for()
    graph(page).locator('[data-testid="gv-error"]').wait_for()  # the model with the error has arrived
    wait_drawn(page)
    red = graph(page).locator(".react-flow__edge.gv-error")
    try:
        red.first.wait_for(timeout=20_000)
    except Exception as exc:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        page.locator(FRAME).screenshot(path=str(ARTIFACTS / "graph_red_edge_missing.png"))
        raise AssertionError(f"no red edge; {graph(page).locator('.react-flow__edge').count()} edges drawn; "
                             f"state {graph_state(page)}") from exc
    assert red.first.locator("path.react-flow__edge-path").evaluate("p => getComputedStyle(p).stroke") == \
        "rgb(214, 39, 40)"
    message = graph(page).locator('[data-testid="gv-error"]').inner_text()
    assert "stage3.block0" in message and "edits[0]" in message
    alert = page.locator('[data-testid="stAlert"]').first.inner_text().replace("\u2060", "")  # md's word joiners
    assert message[:40] in alert  # the page says it too
    screenshot(page, "graph_invalid_edge")
    page.get_by_role("button", name="Undo").click()
    wait_idle(page)
    page.locator('[data-testid="stMetric"]').first.wait_for()
    graph(page).locator(".react-flow__edge.gv-error").first.wait_for(state="detached")  # redrawn without it
    assert graph(page).locator(".react-flow__edge.gv-error").count() == 0


def test_expand_and_collapse_a_stage_and_read_a_box(page):
    view = graph(page)
    stage = view.locator('.react-flow__node[data-id="group:stage2"]')
    assert "react-flow__node-open" in stage.get_attribute("class")
    view.get_by_role("button", name="collapse stage2", exact=True).click()
    wait_drawn(page, lambda s: "react-flow__node-folded" in (stage.get_attribute("class") or ""))
    assert view.locator('.react-flow__node[data-id="group:stage2.block0"]').count() == 0
    view.get_by_role("button", name="expand stage2", exact=True).click()
    wait_drawn(page, lambda s: "react-flow__node-open" in (stage.get_attribute("class") or ""))
    view.locator('.react-flow__node[data-id="group:stage2.block0"]').wait_for()
    view.get_by_role("button", name="expand stage2.block0", exact=True).click()
    wait_drawn(page, lambda s: view.locator('.react-flow__node[data-id="stage2.block0.conv1"]').count() == 1)
    view.locator('.react-flow__node[data-id="stage2.block0.conv1"]').click()
    panel = view.locator('[data-testid="gv-info"]')
    text = panel.inner_text()
    assert "stage2.block0.conv1" in text and "[32, 16, 16]" in text and "4,608" in text  # 16 * 32 * 3 * 3


NET = [("conv2d", "conv2d1"), ("relu", "relu1"), ("global_avgpool", "global_avgpool1"), ("flatten", "flatten1"),
       ("linear", "linear1")]


def test_draw_a_network_from_nothing_and_train_it(page):
    select(page, "…or a family", "graph")
    wait_drawn(page, lambda s: s["nodes"] == 1)  # the input alone
    for k, (op, _) in enumerate(NET):
        select(page, "Op to add", op)
        page.get_by_role("button", name="Add node").click()
        wait_drawn(page, lambda s, n=k + 2: s["nodes"] == n)  # unwired, so drawn red: "takes 1 input(s), got 0"
        wait_idle(page)
    sources = ["input"] + [name for _, name in NET]
    for wires, (src, (_, dst)) in enumerate(zip(sources, NET, strict=False), start=1):
        show_all(page)
        drag(page, src, dst)
        graph(page).get_by_role("button", name="Wire as an input").click()
        wait_idle(page)
        wait_drawn(page, lambda s, n=wires: s["edges"] == n)
    # conv 3 -> 16 (3x3, no bias) and linear 16 -> 10
    page.wait_for_function("() => document.body.innerText.includes('602')")
    assert metric(page, "Parameters") == "602"
    # Set an argument: click the conv in the drawing, then edit it below.
    show_all(page)
    graph(page).locator('.react-flow__node[data-id="conv2d1"]').click()
    page.get_by_text("Selected node: conv2d1 (conv2d)").wait_for()
    editor = page.locator(".st-key-build_node_editor")
    editor.locator('[data-testid="stNumberInput"]').filter(has_text="out_channels").locator("input").fill("8")
    editor.get_by_role("button", name="Apply arguments").click()
    assert wait_metric_change(page, "Parameters", "602") == "306"  # 3 * 8 * 9 + 8 * 10 + 10
    text = yaml_text(page)
    assert "family: graph" in text and "linear1" in text
    screenshot(page, "graph_drawn_from_nothing")
    page.get_by_role("link", name="Train").click()
    wait_idle(page)
    page.get_by_text("Spec being built").click()
    number(page, "Steps", 4)  # by exact label: "Log statistics every N steps" also says steps
    number(page, "Batch size", 8)
    page.get_by_role("button", name="Start", exact=True).click()
    page.wait_for_function("() => document.body.innerText.includes('done ·')", timeout=240_000)
    screenshot(page, "graph_drawn_trained")
    # The Train page draws the run's architecture read only, painted with the layers' gradient norms.
    wait_drawn(page, lambda s: s["nodes"] == 6)
    assert "grad_norm @ step" in graph(page).locator(".gv-scale").inner_text()
    assert graph(page).locator(".react-flow__handle").first.evaluate("h => getComputedStyle(h).visibility") == \
        "hidden"
    page.locator(FRAME).screenshot(path=str(ARTIFACTS / "graph_train_painted.png"))


def test_screenshots_of_resnet50_densenet121_and_unet(page):
    from engine.api import expand

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    for preset in ("resnet50", "densenet121", "unet"):
        select(page, "Start from a preset", preset)
        n = len(expand(preset).nodes)
        wait_drawn(page, lambda s, n=n: s["nodes"] == n)
        page.locator(FRAME).scroll_into_view_if_needed()
        page.wait_for_timeout(300)
        page.locator(FRAME).screenshot(path=str(ARTIFACTS / f"graph_{preset}.png"))
