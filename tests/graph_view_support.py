"""Driving the graph view (a components-v1 iframe) in the browser suite and bench/graph_view.py: its state as the
component publishes it on its <html> element, a drag from one box's handle onto another, a click on an edge."""

from __future__ import annotations

import time

from tests.browser_support import ARTIFACTS

FRAME = 'iframe[title="dashboard.graph_view.skiplab_graph_view"]'
STATE_JS = """() => { const f = document.querySelector('iframe[title="dashboard.graph_view.skiplab_graph_view"]');
  const doc = f && f.contentDocument; if (!doc || !doc.documentElement) return null;
  const d = doc.documentElement.dataset;
  return {layout: d.layout, nodes: Number(d.nodes), boxes: Number(d.boxes), edges: Number(d.edges),
          ms: Number(d.layoutMs), seq: [d.layoutSeq, d.laidOutSeq], measured: d.measured,
          error: d.layoutError || null}; }"""


def graph_state(page) -> dict | None:  # noqa: ANN001 - a playwright Page
    """What the graph view last drew: layout ("busy" | "done"), IR nodes, visible boxes and edges."""
    return page.evaluate(STATE_JS)


def wait_drawn(page, predicate=lambda s: True, timeout: float = 60.0) -> float:  # noqa: ANN001
    """Poll every 10 ms until the layout is done and predicate(state) holds; the ms it took. The frame is scrolled
    into view first, as a user looks at it: Chromium does not render a frame out of view, so it is never done."""
    t0 = time.perf_counter()
    scrolled = False
    while time.perf_counter() - t0 < timeout:
        if not scrolled and page.locator(FRAME).count():
            try:  # the frame may be replaced meanwhile (a page rerun after a run ends): try again next time
                page.locator(FRAME).first.scroll_into_view_if_needed(timeout=2_000)
                scrolled = True
            except Exception:  # noqa: BLE001, S110 - playwright's detached / not-visible errors
                pass
        s = graph_state(page)
        if s and s["layout"] == "done" and predicate(s):
            return 1000 * (time.perf_counter() - t0)
        page.wait_for_timeout(10)
    where = page.locator(FRAME).bounding_box() if page.locator(FRAME).count() else None
    raise TimeoutError(f"the graph view did not get there in {timeout} s; last state: {graph_state(page)}; "
                       f"frame at {where} in a window of {page.viewport_size}; "
                       f"{graph(page).locator('.react-flow__node').count()} boxes in the page")


def graph(page):  # noqa: ANN001, ANN201 - a FrameLocator
    return page.frame_locator(FRAME)


def settle(page, timeout: float = 10.0) -> None:  # noqa: ANN001
    """Wait until the drawing's viewport (pan and zoom) has stopped moving: on a loaded machine a fit takes a
    while to land, and a drag computed from positions before it would miss its boxes."""
    viewport = graph(page).locator(".react-flow__viewport")
    last, t0 = None, time.perf_counter()
    while time.perf_counter() - t0 < timeout:
        now = viewport.get_attribute("style")
        if now == last:
            return
        last = now
        page.wait_for_timeout(120)


def show_all(page) -> None:  # noqa: ANN001
    """The graph frame in the window and the whole graph in the frame (pointer actions need both in view)."""
    page.locator(FRAME).scroll_into_view_if_needed()
    graph(page).get_by_role("button", name="Fit", exact=True).click()
    page.wait_for_timeout(50)
    settle(page)


def drag(page, source: str, target: str) -> None:  # noqa: ANN001
    """Press on a box's source handle (its right edge) and release over another box, as a user draws an edge;
    the drawing then offers what to make of it (a skip, a wire)."""
    page.locator(FRAME).scroll_into_view_if_needed()
    a = graph(page).locator(f'.react-flow__node[data-id="{source}"] .react-flow__handle.source').bounding_box()
    b = graph(page).locator(f'.react-flow__node[data-id="{target}"]').bounding_box()
    page.mouse.move(a["x"] + a["width"] / 2 - 6, a["y"] + a["height"] / 2)
    page.mouse.move(a["x"] + a["width"] / 2, a["y"] + a["height"] / 2, steps=3)
    page.mouse.down()
    page.mouse.move(b["x"] + b["width"] / 2, b["y"] + b["height"] / 2, steps=8)
    page.mouse.up()
    try:
        graph(page).locator('[data-testid="gv-connect"]').wait_for(timeout=10_000)
    except Exception as exc:  # keep what the drawing looked like: a drag is the step most sensitive to layout
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        page.locator(FRAME).screenshot(path=str(ARTIFACTS / "graph_drag_failed.png"))
        html = graph(page).locator("html")
        mounted = html.get_attribute("data-mounted-at")
        now = page.evaluate("() => Date.now()")
        raise AssertionError(f"no connect popup after a drag {source} -> {target} (handle at {a}, target at {b}; "
                             f"the frame loaded {now - int(mounted or 0)} ms ago; state {graph_state(page)}, "
                             f"{html.get_attribute('data-drawn-edges')} edges given to React Flow, "
                             f"{graph(page).locator('.react-flow__edge').count()} in the page); "
                             "see artifacts/screenshots/graph_drag_failed.png") from exc


POINT_ON_EDGE_JS = """(el) => { const path = el.querySelector('path.react-flow__edge-path');
  const p = path.getPointAtLength(path.getTotalLength() / 2); const m = path.getScreenCTM();
  return {x: m.a * p.x + m.c * p.y + m.e, y: m.b * p.x + m.d * p.y + m.f}; }"""


def click_edge(page, selector: str) -> None:  # noqa: ANN001
    """Click the middle of the first edge matching `selector` (its drawn path, not its bounding box)."""
    page.locator(FRAME).scroll_into_view_if_needed()
    edge = graph(page).locator(selector).first
    point = edge.evaluate(POINT_ON_EDGE_JS)
    frame_box = page.locator(FRAME).bounding_box()
    page.mouse.click(frame_box["x"] + point["x"], frame_box["y"] + point["y"])
