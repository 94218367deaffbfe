"""AppTest: the Experiments page runs each experiment from its form on tiny settings and shows the figures and the
generated conclusion; one experiment also goes the real way (a detached driver process and the job runner)."""

from __future__ import annotations

import time

import pytest
from streamlit.testing.v1 import AppTest

import engine.lab.experiments as ex
from dashboard.text import plain
from engine.store import RunStore

PAGE = "../pages/experiments.py"


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _page() -> AppTest:
    at = AppTest.from_file("../dashboard/app.py", default_timeout=120).run()
    at.switch_page(PAGE).run()
    assert not at.exception
    return at


def _fill_tiny(at: AppTest, name: str) -> None:
    """Type the experiment's tiny settings into its form, widget by widget."""
    at.selectbox(key="experiments_pick").set_value(name).run()
    for field, value in ex.get_experiment(name).tiny.items():
        key = f"experiments_{name}_{field}"
        if isinstance(value, list) and all(isinstance(v, str) for v in value):  # choices: a multiselect
            at.multiselect(key=key).set_value(value)
        elif isinstance(value, list):
            at.text_input(key=key).input(", ".join(str(v) for v in value))
        elif isinstance(value, bool):
            at.checkbox(key=key).check() if value else at.checkbox(key=key).uncheck()
        else:
            at.number_input(key=key).set_value(value)


def test_each_experiment_runs_from_the_page_and_shows_figures_and_conclusion(store_path, monkeypatch) -> None:
    # The page's Run launches a detached process; here it trains in this process instead (the real launch is
    # the slow test below), so every experiment goes form -> runs -> analysis -> figures in seconds.
    monkeypatch.setattr(ex, "launch", lambda exp_id, path, jobs=1: ex.execute(exp_id, path) and 0)
    at = _page()
    assert any("No experiments yet" in plain(i.value) for i in at.info)
    for name in ex.experiment_names():
        _fill_tiny(at, name)
        at.button[0].click().run()  # the form's Run
        assert not at.exception, (name, at.exception)
        assert not at.error or all("did not hold" in e.value for e in at.error), [e.value for e in at.error]
        rec = ex.ExperimentStore(store_path).list()[0]
        assert rec["name"] == name and rec["status"] == "done"
        assert at.selectbox(key="experiments_open_pick").value == rec["id"]
        assert any(m.value == "**Conclusion.**" for m in at.markdown), name
        conclusion = rec_conclusion = ex.ExperimentStore(store_path).get(rec["id"])["results"]["conclusion"]
        assert any(t.value == conclusion for t in at.text) and len(rec_conclusion) > 60, name  # shown literally
        assert len(at.get("plotly_chart")) >= 2, name
        claims = ex.ExperimentStore(store_path).get(rec["id"])["results"]["claims"]
        assert len(at.success) + len(at.error) + len(at.warning) >= len(claims)
    # all of their runs are ordinary runs of the store: the Runs page lists them. The lesion's resnet8 / plain8 runs
    # have the same spec, config and seeds as the degradation's: reused, not trained again
    assert len(RunStore(store_path).list_runs()) == 8 + 6 + 0 + 1 + 6 + 5 + 4  # transfer, landscape
    at.switch_page("../pages/runs.py").run()
    assert not at.exception


@pytest.mark.slow
def test_run_button_launches_a_driver_process_and_the_page_polls_it(store_path) -> None:
    at = _page()
    _fill_tiny(at, "shortcut_share")
    at.button[0].click().run()
    assert not at.exception
    exp_id = ex.ExperimentStore(store_path).list()[0]["id"]
    deadline = time.monotonic() + 180
    while ex.ExperimentStore(store_path).get(exp_id)["status"] in ex.EXP_ACTIVE and time.monotonic() < deadline:
        time.sleep(1.0)
        at.run()  # run_every fragments do not fire in AppTest: poll by re-running
        assert not at.exception
    ex.driver.reap()
    rec = ex.ExperimentStore(store_path).get(exp_id)
    assert rec["status"] == "done", rec.get("error")
    at.run()
    assert any(t.value.startswith("resnet8") for t in at.text)
    run = RunStore(store_path).get_run(rec["runs"][0]["run_id"])
    assert run["status"] == "done" and run["pid"] not in (None, rec["pid"])  # the job runner's child trained it


def test_share_lines_drop_the_legend_when_it_would_bury_the_plot() -> None:
    from dashboard.experiment_charts import LEGEND_MAX, share_lines

    def fig(n: int):  # noqa: ANN202
        return share_lines({"blocks": [f"stage1.block{i}" for i in range(n)], "steps": [0, 10],
                            "share": [[0.5, 0.6]] * n})

    few, many = fig(3), fig(LEGEND_MAX + 17)
    assert few.layout.showlegend is True and many.layout.showlegend is False
    assert len(many.data) == LEGEND_MAX + 17 and "stage1.block26" in many.data[-1].hovertemplate
    assert "input → output" in many.layout.title.text and many.layout.yaxis.range == (0, 1)
