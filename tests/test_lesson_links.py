"""The ways into Lessons (AppTest): the sidebar, a run on Train, the runs on Compare; a link opens the lesson it
names. The gradient records are synthetic (tests/test_lesson_hints.py's)."""

import pytest
from streamlit.testing.v1 import AppTest

from dashboard.text import plain
from engine.store import RunStore
from tests.test_lesson_hints import record

APP = "../dashboard/app.py"


@pytest.fixture(autouse=True)
def private_store(store_path):
    return store_path


def page(name: str, **query: str) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=120)
    at.query_params.update(query)
    at.run()
    if name != "build":
        at.switch_page(f"../pages/{name}.py").run()
    assert not at.exception, at.exception
    return at


def links(at: AppTest) -> list[tuple[str, str]]:
    return [(plain(p.proto.label), p.proto.page) for p in at.get("page_link")]


def test_every_page_points_to_the_lessons_from_the_sidebar():
    at = page("build")
    assert ("Start with the lessons", "lessons") in links(at)
    assert any("why BatchNorm hides it" in c.value for c in at.sidebar.caption)


def test_train_says_why_a_batchnorm_run_keeps_its_gradient_and_links_the_lesson(store_path):
    record(RunStore(store_path), "resnet20", 0.97, bn=True)
    at = page("train")
    info = " ".join(plain(i.value) for i in at.info)
    assert "keeps its size" in info and "normalisation layers (6 batchnorm2d)" in info
    assert ("Lesson: Plain-56 vs ResNet-56 without BatchNorm", "lessons") in links(at)


def test_compare_says_why_batchnorm_runs_do_not_differ(store_path):
    store = RunStore(store_path)
    record(store, "plain20", 0.95, bn=True), record(store, "resnet20", 0.97, bn=True)
    at = page("compare")
    info = " ".join(plain(i.value) for i in at.info)
    assert "every one has normalisation layers" in info


def test_a_link_opens_the_lesson_it_names_once():
    at = page("lessons", lesson="batchnorm_hides")
    assert at.selectbox(key="lessons_pick").value == "batchnorm_hides"
    at.selectbox(key="lessons_pick").set_value("init_hides").run()  # the user's pick wins over the link
    assert at.selectbox(key="lessons_pick").value == "init_hides"
    assert at.query_params["lesson"] == "init_hides"
