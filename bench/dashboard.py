"""Dashboard benchmarks (JSON on stdout). Not a test: timings depend on the machine.

- widget_to_metrics_ms: server-side time from a knob change to updated metrics on Build, resnet152 (AppTest
  rerun of the whole page, and the engine evaluation alone). Target <= 300 ms.
- heatmap_payload_bytes: the layer x step heatmap figure for 200 layers x 10,000 steps, as sent to the browser
  (step axis downsampled to ~500 columns). Target <= 1 MB.
- cold_start_s: `streamlit run` to the first rendered Build page in headless Chromium. Target <= 3 s.
"""

from __future__ import annotations

import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from dashboard.build_state import evaluate  # noqa: E402
from dashboard.run_charts import layer_heatmap  # noqa: E402
from engine.arch import get_preset  # noqa: E402
from engine.spec import to_dict  # noqa: E402


def widget_to_metrics() -> dict[str, float]:
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(ROOT / "dashboard" / "app.py"), default_timeout=120).run()
    at.selectbox(key="build_preset").set_value("resnet152").run()
    rev = at.session_state["build_rev"]
    page_ms = []
    for classes in (999, 1000, 998, 1000, 997):  # each value is new to the cache, so nothing is reused
        box = at.number_input(key=f"build_k{rev}_num_classes")
        t0 = time.perf_counter()
        box.set_value(classes).run()
        page_ms.append(1000 * (time.perf_counter() - t0))
        assert not at.exception
    spec = to_dict(get_preset("resnet152"))
    engine_ms = []
    for width in (64, 65, 66, 67, 68):
        spec["stages"][0]["width"] = width
        t0 = time.perf_counter()
        ev = evaluate(spec, batch=32)
        engine_ms.append(1000 * (time.perf_counter() - t0))
        assert ev.ok
    return {"page_rerun_ms": statistics.median(page_ms), "engine_evaluate_ms": statistics.median(engine_ms)}


def heatmap_payload() -> int:
    rng = np.random.default_rng(0)
    matrix = rng.lognormal(-4, 1, size=(200, 10_000)).astype(np.float32)
    fig = layer_heatmap(np.arange(1, 10_001), matrix, [f"layer{i}" for i in range(200)])
    return len(fig.to_json().encode())


def cold_start() -> float | None:
    try:
        from playwright.sync_api import sync_playwright

        sys.path.insert(0, str(ROOT))
        from tests.browser_support import CHROMIUM, CHROMIUM_FLAGS, browser_missing, streamlit_server
    except ImportError:
        return None
    if browser_missing():
        return None
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        page = browser.new_page()
        with tempfile.TemporaryDirectory() as tmp:
            t0 = time.perf_counter()
            with streamlit_server(Path(tmp) / "runs.sqlite") as url:
                page.goto(url)
                page.locator('[data-testid="stMetricValue"]').first.wait_for(timeout=60_000)
                elapsed = time.perf_counter() - t0
        browser.close()
    return elapsed


def main() -> None:
    widget = widget_to_metrics()
    payload = heatmap_payload()
    start = cold_start()
    print(json.dumps({
        "widget_to_metrics_ms": widget, "widget_target_ms": 300,
        "widget_ok": widget["page_rerun_ms"] <= 300,
        "heatmap_payload_bytes": payload, "payload_target_bytes": 1_000_000, "payload_ok": payload <= 1_000_000,
        "cold_start_s": start, "cold_start_target_s": 3.0, "cold_start_ok": None if start is None else start <= 3.0,
    }, indent=2))


if __name__ == "__main__":
    main()
