"""Compare describes the gradient-flow difference of its runs in words computed from their data (AppTest)."""

import pytest
from streamlit.testing.v1 import AppTest

from dashboard.text import plain
from engine.store import RunStore
from tests.fake_runs import fake_run

APP = "../dashboard/app.py"


@pytest.fixture(autouse=True)
def private_store(store_path):
    return store_path


def compare_words() -> list[str]:
    at = AppTest.from_file(APP, default_timeout=120).run()
    at.switch_page("../pages/compare.py").run()
    assert not at.exception, at.exception
    return [plain(m.value) for m in at.markdown if m.value.startswith("- ")]


def test_compare_says_how_far_apart_the_runs_gradients_are(store_path):
    store = RunStore(store_path)
    a, b = fake_run(store, "plain", decay=0.3), fake_run(store, "residual", decay=0.95)
    words = compare_words()
    assert any(w.startswith("- At init #") for w in words)
    line = next(w for w in words if w.startswith("- At 100% of each run"))
    assert f"#{a} plain's first-layer gradient is" in line and f"#{b} residual keeps" in line
    assert "difference" in line and "10^2." in line  # (0.95 / 0.3) ** 5 = 10^2.5, within the data's 10% noise
    assert any("They differ most in stage1" in w for w in words)


def test_compare_says_so_when_the_runs_do_not_differ(store_path):
    store = RunStore(store_path)
    fake_run(store, "a", decay=0.9), fake_run(store, "b", decay=0.9)
    words = compare_words()
    assert any("no difference in how much gradient reaches the first layer" in w for w in words)
    assert not any("differ most" in w for w in words)
