"""AppTest of the Lessons page, on synthetic pairs written into the store under the lesson's own plan (so the page
re-attaches to them as it does after a refresh); the real training is the browser suite's."""

import pytest
from streamlit.testing.v1 import AppTest

from dashboard.text import plain
from engine.lab.lessons import get_lesson
from engine.store import RunStore
from engine.train.record import create_run
from tests.fake_runs import fill_run

APP = "../dashboard/app.py"


@pytest.fixture(autouse=True)
def private_store(store_path):
    return store_path


def lessons_page() -> AppTest:
    at = AppTest.from_file(APP, default_timeout=120).run()
    at.switch_page("../pages/lessons.py").run()
    assert not at.exception, at.exception
    return at


def lesson_pair(store: RunStore, name: str, decays=(0.1, 0.97), accs=(0.1, 0.95), status: str = "done") -> dict:
    """The lesson's two runs at its default settings, with synthetic statistics of 8 linear layers."""
    lesson = get_lesson(name)
    ids = {}
    for run, decay, acc in zip(lesson.plan(lesson.settings()), decays, accs, strict=True):
        run_id = create_run(store, run.spec, run.config, status="running", name=run.name)
        store.set_layers(run_id, [{"name": f"layer{i}.fc", "op": "linear", "stage": "layers"} for i in range(8)])
        fill_run(store, run_id, 8, 20, decay, val_acc=acc)
        store.set_status(run_id, status)
        ids[run.label] = run_id
    return ids


def texts(at: AppTest) -> str:
    boxes = [*at.markdown, *at.success, *at.warning, *at.info, *at.caption]
    return "\n".join(plain(b.value) for b in boxes)


def test_without_runs_the_page_says_how_to_start():
    at = lessons_page()
    assert at.selectbox(key="lessons_pick").value == "vanishing_mlp"
    assert any("press **Run lesson**" in i.value for i in at.info)
    assert "Does the gradient reach the first layer" in texts(at)
    assert at.number_input(key="lessons_steps_vanishing_mlp").value == get_lesson("vanishing_mlp").steps


def test_a_finished_pair_shows_its_conclusion_beside_the_charts(store_path):
    ids = lesson_pair(RunStore(store_path), "vanishing_mlp")
    at = lessons_page()
    text = texts(at)
    assert "What the runs show" in [s.value for s in at.subheader]
    assert "plain: the first layer gets" in text and "it vanishes toward the input" in text
    assert sum("Showed:" in plain(s.value) for s in at.success) == 3
    assert "These runs show every expected effect." in text
    table = at.dataframe[0].value
    assert list(table["run"]) == [f"#{ids['plain']}", f"#{ids['residual']}"]
    assert {c.key for c in at.get("plotly_chart")} >= {f"lessons_vanishing_mlp_{k}" for k in
                                                       ("ratio", "profile", "loss", "acc")}


def test_numbers_that_do_not_show_the_effect_are_said_so(store_path):
    lesson_pair(RunStore(store_path), "vanishing_mlp", decays=(0.9, 0.9), accs=(0.5, 0.5))
    at = lessons_page()
    warnings = [plain(w.value) for w in at.warning]
    assert any(w.startswith("Did not show: plain's gradient vanishes") for w in warnings)
    assert "2 of 3 expected effects did not show" in texts(at)


def test_another_lesson_and_other_settings_have_their_own_runs(store_path):
    lesson_pair(RunStore(store_path), "vanishing_mlp")
    at = lessons_page()
    at.selectbox(key="lessons_pick").set_value("batchnorm_hides").run()
    assert not at.exception
    assert any("Not run yet" in i.value for i in at.info)
    assert "1.6e4" in texts(at)  # the why: what the experiments measured with BatchNorm


def test_a_running_pair_shows_numbers_so_far_and_can_be_cancelled(store_path):
    store = RunStore(store_path)
    ids = lesson_pair(store, "vanishing_mlp", status="running")
    at = lessons_page()
    assert "So far" in [s.value for s in at.subheader]
    assert not any("Showed:" in plain(s.value) for s in at.success)  # no verdicts before both runs end
    at.button(key="lessons_cancel").click().run()
    assert not at.exception
    assert {store.get_run(i)["status"] for i in ids.values()} == {"cancelled"}


def test_the_page_opens_on_the_pair_last_run_at_other_settings(store_path):
    store = RunStore(store_path)
    lesson = get_lesson("vanishing_mlp")
    for run in lesson.plan(lesson.settings({"steps": 6, "seed": 3})):
        create_run(store, run.spec, run.config, status="done", name=run.name)
    at = lessons_page()
    assert at.number_input(key="lessons_steps_vanishing_mlp").value == 6
    assert at.number_input(key="lessons_seed_vanishing_mlp").value == 3
    assert not any("Not run yet" in i.value for i in at.info)


def test_ratio_chart_labels_few_decades_and_names_a_zero_run():
    from dashboard.lesson_charts import ratio_figure

    fig = ratio_figure({"plain56": ([1, 2], [0.0, 0.0]), "resnet56": ([1, 2], [0.6, 1e-18])})
    assert "plain56: 0, off the axis" in fig.layout.title.text
    assert fig.layout.yaxis.dtick == 3  # 18 decades: every third labelled, not 18 stacked labels
    assert fig.layout.annotations[0].y == -3  # on a log axis an annotation sits at log10(1e-3)
