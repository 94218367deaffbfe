"""Dashboard benchmarks, each measured side by side in one run; prints one JSON object. Not a test: timings depend
on the machine, so the load average it ran under is part of the output (a shared machine inflates every figure).

    python bench/dashboard.py              # about two minutes on 2 cores
    python bench/dashboard.py --rounds 5   # more start-ups per side

- cold_start: `streamlit run` to the first Build page showing its numbers (the first metric value visible) in
  headless Chromium, against a bare Streamlit page (a title and one metric) served and loaded the same way. Rounds
  alternate which goes first; every load uses a fresh browser context (no cached front-end). The figure is the
  ratio of the medians. Target <= 1.5.
- knob_to_numbers: resnet152 on the Build page in the browser; from the key press that changes a knob (num classes)
  to the Parameters metric showing the new count, median over several values (each new, so nothing is cached).
  Target <= 300 ms. Beside it, server-side figures: `page_rerun_ms` (AppTest rerun of the whole page; it also
  recompiles the page script, which a live server caches) and `engine_evaluate_ms` (the engine alone).
- heatmap_payload_bytes: the layer x step heatmap for 200 layers x 10,000 steps as sent to the browser (step axis
  downsampled to ~500 columns). Target <= 1 MB.

Without Chromium or the playwright package the browser figures are null, with the reason.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # `python bench/NAME.py` from a fresh clone: the engine is not installed

import numpy as np  # noqa: E402

from bench._machine import Watch  # noqa: E402
from tests.browser_support import CHROMIUM, CHROMIUM_FLAGS, browser_missing, free_port  # noqa: E402

APP = ROOT / "dashboard" / "app.py"
BARE_PAGE = '''import streamlit as st

st.set_page_config(page_title="bare", layout="wide")
st.title("Build")
st.metric("Parameters", "269,722")
'''
METRIC = '[data-testid="stMetricValue"]'
FIGURES = ("wall_s", "server_cpu_s", "browser_main_thread_cpu_s", "browser_renderer_cpu_s")
MAX_BUSY = 0.25  # cores other processes may use before the wall times are flagged (as bench/train.py)


def cpu_seconds(pid: int) -> float | None:
    """CPU seconds (user + system) a process has used so far; None without /proc."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@contextlib.contextmanager
def serve(script: Path, tmp: Path) -> Iterator[tuple[str, float, int]]:
    """Start `streamlit run script`; yields (url, t0, pid) once the health endpoint answers (t0: the launch)."""
    port = free_port()
    env = {**os.environ, "SKIPLAB_STORE": str(tmp / "runs.sqlite"), "PYTHONUNBUFFERED": "1"}
    log = open(tmp / f"{script.stem}-{port}.log", "w")  # noqa: SIM115 - closed below
    t0 = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "streamlit", "run", str(script), "--server.port", str(port),
                             "--server.address", "127.0.0.1", "--server.headless", "true"],
                            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = t0 + 120
        while True:
            try:
                with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2):
                    break
            except OSError:
                if proc.poll() is not None or time.perf_counter() > deadline:
                    raise RuntimeError(f"streamlit did not start: {(tmp / log.name).read_text()[-2000:]}") from None
                time.sleep(0.05)
        yield url, t0, proc.pid
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


def first_numbers(browser: Any, script: Path, tmp: Path) -> dict[str, float | None]:
    """From launching the server to the first metric value on screen, in a fresh browser context: the wall time,
    the server's CPU seconds and the CPU seconds of the page's renderer (Chrome's ThreadTime, ProcessTime). The CPU
    figures say where the time goes, and hold up better than the wall time on a shared machine."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    cdp = context.new_cdp_session(page)
    cdp.send("Performance.enable")
    try:
        with serve(script, tmp) as (url, t0, pid):
            page.goto(url)
            page.locator(METRIC).first.wait_for(state="visible", timeout=120_000)
            wall = time.perf_counter() - t0
            server = cpu_seconds(pid)
            metrics = {m["name"]: m["value"] for m in cdp.send("Performance.getMetrics")["metrics"]}
            # ThreadTime / ProcessTime: CPU seconds of the page's main thread and of its renderer process
            return {"wall_s": wall, "server_cpu_s": server, "browser_main_thread_cpu_s": metrics.get("ThreadTime"),
                    "browser_renderer_cpu_s": metrics.get("ProcessTime")}
    finally:
        context.close()


def cold_start(browser: Any, rounds: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        bare = tmp / "bare_page.py"
        bare.write_text(BARE_PAGE)
        first_numbers(browser, bare, tmp)  # warm the OS file cache for both (Python, Streamlit, Chromium)
        first_numbers(browser, APP, tmp)
        app: list[dict[str, Any]] = []
        bare_runs: list[dict[str, Any]] = []
        with Watch() as watch:
            for r in range(rounds):
                order = [(APP, app), (bare, bare_runs)] if r % 2 == 0 else [(bare, bare_runs), (APP, app)]
                for script, out in order:
                    out.append(first_numbers(browser, script, tmp))

    def median(runs: list[dict[str, Any]], key: str) -> float | None:
        values = [r[key] for r in runs if r[key] is not None]
        return round(statistics.median(values), 2) if values else None

    ratio = median(app, "wall_s") / median(bare_runs, "wall_s")
    res: dict[str, Any] = {
        "app_wall_s": [round(r["wall_s"], 2) for r in app],
        "bare_page_wall_s": [round(r["wall_s"], 2) for r in bare_runs],
        "ratio_of_medians": round(ratio, 3), "target": "<= 1.5", "ok": ratio <= 1.5,
        "medians": {side: {k: median(runs, k) for k in FIGURES}
                    for side, runs in (("app", app), ("bare_page", bare_runs))},
        "machine": watch.window.as_dict(),
    }
    if not watch.window.quiet(MAX_BUSY, own_threads=2):  # the servers and Chromium are ours, the rest is not
        res["note"] = (f"measured while other processes used {watch.window.others_cores} cores: the CPU seconds "
                       "say more than the wall times")
    return res


def metric_text(page: Any, label: str) -> str:
    box = page.locator('[data-testid="stMetric"]').filter(has_text=label).first
    return box.locator(METRIC).inner_text()


def knob_to_numbers_browser(browser: Any, values: tuple[int, ...]) -> dict[str, Any]:
    from tests.browser_support import select, wait_idle

    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    page.set_default_timeout(120_000)
    with tempfile.TemporaryDirectory() as tmp, serve(APP, Path(tmp)) as (url, _, _pid):
        page.goto(url)
        page.locator(METRIC).first.wait_for()
        wait_idle(page)
        select(page, "Start from a preset", "resnet152")
        page.wait_for_function("() => document.body.innerText.includes('60,192,808')")
        wait_idle(page)
        box = page.locator('[data-testid="stNumberInput"]').filter(has_text="num classes").first.locator("input")
        to_numbers, to_idle = [], []
        for value in values:
            before = metric_text(page, "Parameters")
            box.fill(str(value))
            t0 = time.perf_counter()
            box.press("Enter")
            page.wait_for_function(
                """([before]) => {
                    const m = [...document.querySelectorAll('[data-testid="stMetric"]')]
                        .find(e => e.innerText.includes('Parameters'));
                    const v = m && m.querySelector('[data-testid="stMetricValue"]');
                    return v && v.innerText !== before;
                }""", arg=[before], polling="raf")
            to_numbers.append(1000 * (time.perf_counter() - t0))
            wait_idle(page)
            to_idle.append(1000 * (time.perf_counter() - t0))
    context.close()
    return {"model": "resnet152", "knob": "num_classes", "values": list(values),
            "to_numbers_ms": [round(v) for v in to_numbers], "median_ms": round(statistics.median(to_numbers)),
            "to_page_idle_median_ms": round(statistics.median(to_idle)), "target_ms": 300,
            "ok": statistics.median(to_numbers) <= 300}


def knob_to_numbers_server(values: tuple[int, ...]) -> dict[str, float]:
    from streamlit.testing.v1 import AppTest

    from dashboard.build_state import evaluate
    from engine.api import get_preset, to_dict

    at = AppTest.from_file(str(APP), default_timeout=120).run()
    at.selectbox(key="build_preset").set_value("resnet152").run()
    rev = at.session_state["build_rev"]
    page_ms = []
    for classes in values:  # each value is new to the cache, so nothing is reused
        box = at.number_input(key=f"build_k{rev}_num_classes")
        t0 = time.perf_counter()
        box.set_value(classes).run()
        page_ms.append(1000 * (time.perf_counter() - t0))
        assert not at.exception, at.exception
    spec = to_dict(get_preset("resnet152"))
    engine_ms = []
    for width in (64, 65, 66, 67, 68):
        spec["stages"][0]["width"] = width
        t0 = time.perf_counter()
        ev = evaluate(spec, batch=32)
        engine_ms.append(1000 * (time.perf_counter() - t0))
        assert ev.ok
    return {"page_rerun_ms": round(statistics.median(page_ms)),
            "engine_evaluate_ms": round(statistics.median(engine_ms))}


def heatmap_payload() -> int:
    from dashboard.run_charts import layer_heatmap

    rng = np.random.default_rng(0)
    matrix = rng.lognormal(-4, 1, size=(200, 10_000)).astype(np.float32)
    fig = layer_heatmap(np.arange(1, 10_001), matrix, [f"layer{i}" for i in range(200)])
    return len(fig.to_json().encode())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=3, help="start-ups per side (app and bare page)")
    args = ap.parse_args()
    # `timeout` or a CI runner stops us with SIGTERM: unwind, so every Streamlit server started here is stopped too
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    out: dict[str, Any] = {"machine": {"cpus": os.cpu_count(), "loadavg_start": [round(v, 2) for v in os.getloadavg()],
                                       "note": "a shared machine: compare ratios, and read them with the load"}}
    missing = browser_missing()
    if missing:
        out["cold_start"] = out["knob_to_numbers"] = {"skipped": missing}
    else:
        from playwright.sync_api import sync_playwright

        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
            out["cold_start"] = cold_start(browser, args.rounds)
            out["knob_to_numbers"] = knob_to_numbers_browser(browser, (999, 1000, 998, 997, 996))
            browser.close()
    out["knob_to_numbers_server"] = knob_to_numbers_server((995, 994, 993, 992, 991))
    payload = heatmap_payload()
    out["heatmap_payload"] = {"bytes": payload, "target_bytes": 1_000_000, "ok": payload <= 1_000_000}
    out["machine"]["loadavg_end"] = [round(v, 2) for v in os.getloadavg()]
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
