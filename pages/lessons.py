"""Lessons: pick one, press Run lesson. Two nets that differ in one thing train side by side with the same seed and
batches; the page writes what the runs show (gradient at init, loss, accuracy) from their numbers, next to the
charts, and says plainly when an expected effect did not show. The runs are ordinary runs of the store."""

import streamlit as st

from dashboard import text as safe
from dashboard.experiments_view import max_jobs
from dashboard.lesson_links import linked_lesson, show_lesson_in_url
from dashboard.lesson_view import describe, render_result, settings_form
from dashboard.state import get_store
from engine.api import SkipLabError, get_runner
from engine.api import lessons as ls

st.title("Lessons")
st.caption("Each lesson trains a pair of nets that differ in one thing, with the same seed and the same batches, and "
           "reads the effect from the runs. Where the vanishing gradient really shows, and why BatchNorm and the "
           "init hide it.")
store = get_store()

names = ls.lesson_names()
linked_lesson(names, "lessons_pick")  # ?lesson=NAME: a link from Train or Compare opens the lesson it names
name = st.selectbox("Lesson", names, format_func=lambda n: ls.get_lesson(n).title, key="lessons_pick")
show_lesson_in_url(name, "lessons_pick")
lesson = ls.get_lesson(name)
describe(lesson)
settings, pressed = settings_form(lesson, ls.last_settings(lesson, store))  # opens on the pair last run
runner = get_runner(str(store.path), max_concurrent=max_jobs())  # both runs at once on two cores
if pressed:
    try:
        ids = ls.start(lesson, settings, runner)
        safe.toast(f"Started runs {', '.join(f'#{i}' for i in ids.values())}")
    except (SkipLabError, ValueError) as exc:
        safe.error(f"Could not start the lesson: {exc}")

ids = ls.find(lesson, settings, store)  # the store is the record: a refresh re-attaches to the newest pair
if ids is None:
    st.info("Not run yet at these settings: press **Run lesson**. At the default steps a lesson takes about a "
            "minute on two CPU cores.")
    st.stop()
active = ls.active(store, ids)
if active and st.button("Cancel lesson", key="lessons_cancel", help="Stops both runs; what they logged is kept."):
    ls.cancel(runner, ids)
    st.rerun()


@st.fragment(run_every=1.0 if active else None)
def live() -> None:
    result = ls.read(lesson, store, ids)
    render_result(result, key=f"lessons_{name}")
    if active and result.finished:
        st.rerun()  # both ended: redraw once with the conclusion, then stop polling


live()
