"""Graph view benchmarks in headless Chromium (JSON on stdout). Not a test: timings depend on the machine, so the
machine's load is printed beside them. Targets (issue 18):

- draw_resnet152_ms: from picking resnet152 on the Build page to its graph drawn and taking clicks (the layout
  done and a box's panel opening on a click). Target <= 2000 ms. Beside it, the same pick until the page's
  Parameters metric shows the new count (draw_resnet152_page_numbers_ms): the part of the wait that is not the
  drawing's.
- expand_all_resnet152_ms: every stage and block of resnet152 opened (Expand all) until drawn (no target in the
  issue; the default view is folded).
- fold_resnet50_ms / unfold_resnet50_ms: a block of resnet50 unfolded (+) and folded again (−) until the new
  layout is drawn. Target <= 500 ms each.
- edit_round_trip_resnet50_ms: "Add skip" clicked after a drag between two blocks, until the Parameters metric
  shows the new count; and until the graph is drawn again with the edit's nodes. Target <= 500 ms (counts).

Medians of `--repeat` tries (default 5). The layout's own time inside the component (ELK in a web worker plus the
row packing) is reported too. Run: `python bench/graph_view.py`.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.browser_support import (  # noqa: E402
    CHROMIUM,
    CHROMIUM_FLAGS,
    browser_missing,
    select,
    streamlit_server,
    wait_idle,
)
from tests.graph_view_support import FRAME, drag, graph, graph_state, show_all, wait_drawn  # noqa: E402

# A watcher in the main page: the browser's clock when the named metric's value changes.
WATCH_JS = """(label) => { window.__changedAt = null; const value = () => { const m = [...document.querySelectorAll(
    '[data-testid="stMetric"]')].find(x => x.innerText.includes(label));
    return m ? m.querySelector('[data-testid="stMetricValue"]').innerText : null; };
  const before = value(); const root = document.querySelector('[data-testid="stMain"]') || document.body;
  const obs = new MutationObserver(() => { if (!window.__changedAt && value() !== before) {
    window.__changedAt = Date.now(); obs.disconnect(); } });
  obs.observe(root, {subtree: true, childList: true, characterData: true}); }"""


def _watch(page, label: str) -> None:  # noqa: ANN001 - a playwright Page
    page.evaluate(WATCH_JS, label)


def _changed_at(page) -> float:  # noqa: ANN001
    page.wait_for_function("() => window.__changedAt !== null", polling=10, timeout=30_000)
    return page.evaluate("() => window.__changedAt")


def draw(page, preset: str, nodes: int) -> dict[str, float]:  # noqa: ANN001
    """Pick a preset; time until drawn (layout done for its node count) and until a click opens a panel."""
    box = page.locator('[data-testid="stSelectbox"]').filter(has_text="Start from a preset").first
    box.locator("input").click()
    box.locator("input").fill(preset)
    _watch(page, "Parameters")  # the page's own numbers for the same pick: what the graph view adds is the rest
    t0 = time.perf_counter()
    pressed = page.evaluate("() => Date.now()")
    page.keyboard.press("Enter")
    wait_drawn(page, lambda s: s["nodes"] == nodes)
    drawn = 1000 * (time.perf_counter() - t0)
    numbers = _changed_at(page) - pressed
    frame = graph(page)
    frame.locator(".react-flow__node").first.click()
    frame.locator('[data-testid="gv-info"]').wait_for(timeout=10_000)
    clickable = 1000 * (time.perf_counter() - t0)
    layout_ms = graph_state(page)["ms"]
    frame.locator('[data-testid="gv-info"] button').click()
    wait_idle(page)
    return {"drawn_ms": drawn, "clickable_ms": clickable, "layout_in_component_ms": layout_ms,
            "page_numbers_ms": numbers}


def expand_all(page) -> dict[str, float]:  # noqa: ANN001
    """Expand all: from the click until every box is laid out, drawn and measured."""
    before = graph_state(page)["boxes"]
    t0 = time.perf_counter()
    graph(page).get_by_role("button", name="Expand all", exact=True).click()
    wait_drawn(page, lambda s: s["boxes"] > before)
    return {"expand_all_ms": 1000 * (time.perf_counter() - t0), "boxes": graph_state(page)["boxes"],
            "layout_in_component_ms": graph_state(page)["ms"]}


def fold(page, group: str) -> dict[str, float]:  # noqa: ANN001
    frame = graph(page)
    before = graph_state(page)["boxes"]
    t0 = time.perf_counter()
    frame.get_by_role("button", name=f"expand {group}", exact=True).click()
    wait_drawn(page, lambda s: s["boxes"] != before)
    unfold = 1000 * (time.perf_counter() - t0)
    unfold_layout = graph_state(page)["ms"]
    t0 = time.perf_counter()
    frame.get_by_role("button", name=f"collapse {group}", exact=True).click()
    wait_drawn(page, lambda s: s["boxes"] == before)
    return {"unfold_ms": unfold, "fold_ms": 1000 * (time.perf_counter() - t0), "unfold_layout_ms": unfold_layout}


def edit_round_trip(page, nodes: int) -> dict[str, float]:  # noqa: ANN001
    """Drag stage1.block0 -> stage3.block1, projection adapter: from "Add skip" to the new count (both times on the
    browser's clock: when the component sent the action, when the metric changed)."""
    show_all(page)
    drag(page, "group:stage1.block0", "group:stage3.block1")
    popup = graph(page).locator('[data-testid="gv-connect"]')
    popup.locator('select[aria-label="adapter"]').select_option("projection")
    _watch(page, "Parameters")
    popup.get_by_role("button", name="Add skip").click()
    changed = _changed_at(page)
    sent = float(graph(page).locator("html").get_attribute("data-sent-at"))
    counts = changed - sent
    wait_drawn(page, lambda s: s["nodes"] > nodes)
    redrawn = page.evaluate("() => Date.now()") - sent  # an upper bound (polled every 10 ms)
    wait_idle(page)
    page.get_by_role("button", name="Undo").click()  # back to the preset for the next try
    wait_idle(page)
    wait_drawn(page, lambda s: s["nodes"] == nodes)
    return {"counts_ms": counts, "redrawn_ms": redrawn}


def widget_round_trip(page, batch: int) -> float:  # noqa: ANN001
    """The baseline: a plain Streamlit widget (Batch) changed, until the memory metric shows the new value."""
    box = page.locator('[data-testid="stNumberInput"]').filter(has_text="Batch").first.locator("input")
    box.fill(str(batch))
    _watch(page, "Training memory")
    page.evaluate("""() => { window.__keyAt = null; document.addEventListener('keydown', (e) => {
      if (e.key === 'Enter' && !window.__keyAt) window.__keyAt = Date.now(); }, {capture: true, once: true}); }""")
    box.press("Enter")
    ms = _changed_at(page) - page.evaluate("() => window.__keyAt")
    wait_idle(page)
    return ms


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    if browser_missing():
        print(json.dumps({"skipped": browser_missing()}))
        return
    from playwright.sync_api import sync_playwright

    from engine.api import expand

    n152, n50 = len(expand("resnet152").nodes), len(expand("resnet50").nodes)
    load_before = os.getloadavg()
    out: dict[str, object] = {}
    with tempfile.TemporaryDirectory() as tmp, streamlit_server(Path(tmp) / "runs.sqlite") as url, \
            sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.set_default_timeout(60_000)
        page.goto(url)
        wait_idle(page)
        select(page, "Start from a preset", "resnet8")  # warm the component (worker, JIT) once
        wait_drawn(page)
        page.locator(FRAME).scroll_into_view_if_needed()
        draws, folds, edits = [], [], []
        for _ in range(args.repeat):
            draws.append(draw(page, "resnet152", n152))
            select(page, "Start from a preset", "resnet8")
            wait_drawn(page, lambda s: s["nodes"] < 100)
        expands = []
        for _ in range(args.repeat):  # every stage and block of resnet152 open: all its ~500 nodes as boxes
            select(page, "Start from a preset", "resnet152")
            wait_drawn(page, lambda s: s["nodes"] == n152)
            expands.append(expand_all(page))
            select(page, "Start from a preset", "resnet8")
            wait_drawn(page, lambda s: s["nodes"] < 100)
        select(page, "Start from a preset", "resnet50")
        wait_drawn(page, lambda s: s["nodes"] == n50)
        page.locator(FRAME).scroll_into_view_if_needed()
        for _ in range(args.repeat):
            folds.append(fold(page, "stage3.block2"))
        for _ in range(args.repeat):
            edits.append(edit_round_trip(page, n50))
        baseline = [widget_round_trip(page, b) for b in range(33, 33 + args.repeat)]
        browser.close()

    def med(rows: list[dict], key: str) -> float:
        return round(statistics.median(r[key] for r in rows), 1)

    out = {
        "draw_resnet152_ms": med(draws, "drawn_ms"), "draw_resnet152_clickable_ms": med(draws, "clickable_ms"),
        "draw_resnet152_layout_in_component_ms": med(draws, "layout_in_component_ms"),
        # The same pick until the Parameters metric shows resnet152's count (the page without the drawing).
        "draw_resnet152_page_numbers_ms": med(draws, "page_numbers_ms"),
        "expand_all_resnet152_ms": med(expands, "expand_all_ms"),
        "expand_all_resnet152_layout_in_component_ms": med(expands, "layout_in_component_ms"),
        "expand_all_resnet152_boxes": expands[0]["boxes"],
        "unfold_resnet50_ms": med(folds, "unfold_ms"), "fold_resnet50_ms": med(folds, "fold_ms"),
        "unfold_resnet50_layout_in_component_ms": med(folds, "unfold_layout_ms"),
        "edit_round_trip_resnet50_counts_ms": med(edits, "counts_ms"),
        "edit_round_trip_resnet50_redrawn_ms": med(edits, "redrawn_ms"),
        # The same page's round trip for a plain Streamlit widget (Batch -> memory metric), measured alongside.
        "baseline_widget_round_trip_resnet50_ms": round(statistics.median(baseline), 1),
        "edit_round_trip_over_baseline": round(med(edits, "counts_ms") / statistics.median(baseline), 2),
        "targets_ms": {"draw_resnet152": 2000, "fold_unfold_resnet50": 500, "edit_round_trip_resnet50": 500},
        "repeat": args.repeat,
        "load_average_before": [round(x, 2) for x in load_before],
        "load_average_after": [round(x, 2) for x in os.getloadavg()],
        "uptime": subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip(),
        "cores": os.cpu_count(),
        "raw": {"draw": draws, "expand_all": expands, "fold": folds, "edit": edits},
    }
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
