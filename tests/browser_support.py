"""Helpers for the real-browser suite: a Streamlit server on a free port and headless Debian Chromium."""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = ROOT / "artifacts" / "screenshots"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync"]


def browser_missing() -> str:
    """Why the browser suite cannot run here, or '' when it can."""
    try:
        import playwright  # noqa: F401
    except ImportError:
        return "the playwright package is not installed (pip install playwright)"
    if not os.path.exists(CHROMIUM):
        return "Debian's chromium is not installed (apt-get install chromium)"
    return ""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def streamlit_server(store: Path, timeout: float = 90.0, env: dict[str, str] | None = None) -> Iterator[str]:
    """Serve the dashboard on 127.0.0.1 with its own run store (and extra environment); yields the base URL.
    The server's output goes to streamlit.log beside the store."""
    port = free_port()
    env = {**os.environ, "SKIPLAB_STORE": str(store), "PYTHONUNBUFFERED": "1", **(env or {})}
    log = open(store.parent / "streamlit.log", "w")  # noqa: SIM115 - closed below
    proc = subprocess.Popen([sys.executable, "-m", "streamlit", "run", "dashboard/app.py", "--server.port", str(port),
                             "--server.address", "127.0.0.1", "--server.headless", "true"],
                            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                time.sleep(0.3)
            if proc.poll() is not None:
                raise RuntimeError(f"streamlit exited early: {(store.parent / 'streamlit.log').read_text()[-2000:]}")
        else:
            raise RuntimeError("streamlit did not become healthy in time")
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


def screenshot(page, name: str) -> Path:  # noqa: ANN001 - a playwright Page
    """The whole page as a PNG in artifacts/screenshots/. Streamlit scrolls its main area inside the window, so
    a "full page" shot would stop at the window: the window is made as tall as the content for the shot."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    size = page.viewport_size
    height = page.evaluate("() => { const m = document.querySelector('[data-testid=\"stMain\"]');"
                           " return m ? m.scrollHeight : document.body.scrollHeight; }")
    if size and height and height > size["height"]:
        page.set_viewport_size({"width": size["width"], "height": min(int(height) + 40, 12_000)})
        page.wait_for_timeout(800)  # charts redraw at the new size
    try:
        page.screenshot(path=str(path), full_page=True)
    finally:
        if size:
            page.set_viewport_size(size)
    return path


def wait_idle(page, timeout: float = 60_000) -> None:  # noqa: ANN001
    """Wait until Streamlit has finished running the script (no 'running' status widget)."""
    page.wait_for_timeout(300)
    page.locator('[data-testid="stStatusWidget"]').wait_for(state="detached", timeout=timeout)


def widget(page, kind: str, label: str):  # noqa: ANN001, ANN201
    """The first Streamlit widget of ``kind`` (``stSelectbox``) whose label is exactly ``label`` (else one whose
    label contains it): "Run" must not find "Previous run"."""
    boxes = page.locator(f'[data-testid="{kind}"]')
    exact = boxes.filter(has=page.locator('[data-testid="stWidgetLabel"]').get_by_text(label, exact=True))
    return exact.first if exact.count() else boxes.filter(has_text=label).first


def select(page, label: str, option: str) -> None:  # noqa: ANN001
    """Pick an option in a Streamlit select box found by its label."""
    box = widget(page, "stSelectbox", label)
    box.locator("input").click()
    box.locator("input").fill(option)
    page.keyboard.press("Enter")
    wait_idle(page)


def nav(page, title: str) -> None:  # noqa: ANN001
    """Go to a page the way a user does: its link in the sidebar navigation (opened first where a narrow screen
    collapsed the sidebar)."""
    link = page.locator('[data-testid="stSidebarNavLink"]').filter(has_text=title).first
    if not link.is_visible():
        opener = page.locator('[data-testid="stExpandSidebarButton"], [data-testid="stSidebarCollapsedControl"] button')
        if opener.count():
            opener.first.click()
        link.wait_for(state="visible")
    link.click()
    page.wait_for_function(f"() => [...document.querySelectorAll('h1')].some(h => h.innerText.trim() === {title!r})")
    wait_idle(page)


def number(page, label: str, value: float | int) -> None:  # noqa: ANN001
    """Type a value into a Streamlit number input found by its label, as a user does (then Tab to apply)."""
    box = widget(page, "stNumberInput", label).locator("input")
    box.fill(str(value))
    box.press("Tab")
    wait_idle(page)


def text_in(page, label: str, value: str, *, area: bool = False) -> None:  # noqa: ANN001
    """Type into a text input (or text area) found by its label, then apply it as a user does."""
    kind = "stTextArea" if area else "stTextInput"
    box = widget(page, kind, label).locator("textarea" if area else "input")
    box.fill(value)
    box.press("Control+Enter" if area else "Enter")
    wait_idle(page)


def body_has(page, text: str, timeout: float = 60_000) -> None:  # noqa: ANN001
    """Wait until the page's text holds ``text`` (the invisible word joiners dashboard.text puts after ':' and
    before '@' are ignored)."""
    page.wait_for_function("t => document.body.innerText.replaceAll('\\u2060', '').includes(t)", arg=text,
                           timeout=timeout)


def input_values(page) -> list[str]:  # noqa: ANN001
    """The values of every input on the page (a select box shows its choice as its input's value)."""
    return page.eval_on_selector_all("input", "els => els.map(e => e.value)")


def select_rows(page, key: str, rows: list[int]) -> None:  # noqa: ANN001
    """Tick rows of an `st.dataframe` with row selection (a canvas grid): a click in each row's checkbox column."""
    grid = page.locator(f".st-key-{key} [data-testid='stDataFrame']").first
    grid.wait_for()
    box = grid.bounding_box()
    for r in rows:  # header and rows are 35 px high; the selection column is the first
        page.mouse.click(box["x"] + 14, box["y"] + 35 + 35 * r + 17)
        wait_idle(page)


def settled(page, quiet_ms: int = 1500, timeout: float = 240_000) -> None:  # noqa: ANN001
    """Wait until the script has finished and stayed finished for `quiet_ms` (a page that imports something heavy
    starts its status widget late; a live fragment reruns every second, which this tolerates)."""
    page.wait_for_function(
        """q => { const busy = !!document.querySelector('[data-testid="stStatusWidget"]');
                  const now = Date.now();
                  if (busy || !window.__quietSince) { window.__quietSince = busy ? 0 : now; return false; }
                  return now - window.__quietSince >= q; }""", arg=quiet_ms, timeout=timeout, polling=250)
    page.evaluate("() => { window.__quietSince = 0; }")
