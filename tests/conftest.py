import os
import sys
from pathlib import Path

# Spinning OpenMP threads make small steps 100x slower when cores are shared (tests, workers, CI).
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import pytest  # noqa: E402
import torch  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

# Two cores: more intra-op threads than that only adds contention between test processes.
torch.set_num_threads(min(2, os.cpu_count() or 1))


@pytest.fixture
def store_path(tmp_path, monkeypatch):
    """A private run store per test, also for child processes (SKIPLAB_STORE)."""
    path = tmp_path / "runs.sqlite"
    monkeypatch.setenv("SKIPLAB_STORE", str(path))
    return path


@pytest.fixture
def one_torch_thread():
    """One intra-op thread for the test (other test processes share the two cores); restored after."""
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)


from tests.op_helpers import scratch_ops  # noqa: E402,F401 - fixture: the op registry as a copy for one test

# ---- browser tests (tests/browser_support.py has the server and the helpers) ---------------------------------


@pytest.fixture(scope="module")
def browser():
    """One headless Chromium per test module; modules that need no browser never import playwright."""
    from playwright.sync_api import sync_playwright

    from tests.browser_support import CHROMIUM, CHROMIUM_FLAGS

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        yield b
        b.close()


@pytest.fixture
def page(browser):
    """A fresh context at 1400 x 1000 for each test; modules with other needs define their own `page`."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    pg = context.new_page()
    pg.set_default_timeout(60_000)
    yield pg
    context.close()
