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
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def wait_idle(page, timeout: float = 60_000) -> None:  # noqa: ANN001
    """Wait until Streamlit has finished running the script (no 'running' status widget)."""
    page.wait_for_timeout(300)
    page.locator('[data-testid="stStatusWidget"]').wait_for(state="detached", timeout=timeout)


def select(page, label: str, option: str) -> None:  # noqa: ANN001
    """Pick an option in a Streamlit select box found by its label."""
    box = page.locator('[data-testid="stSelectbox"]').filter(has_text=label).first
    box.locator("input").click()
    box.locator("input").fill(option)
    page.keyboard.press("Enter")
    wait_idle(page)
