"""Ways into the Lessons page from where a student looks at gradients: the sidebar of every page, a run on Train
(why its gradient looks as it does, from its data) and the runs on Compare (the gradient flow in words, and why
runs do not differ when they do not). A link opens the lesson it names (``?lesson=NAME``)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import streamlit as st

from dashboard import text as safe
from dashboard.pages_index import page_dir

QUERY = "lesson"


def lessons_page() -> str:
    """The Lessons page's script as `st.navigation` registered it (dashboard/app.py), not a path relative to
    wherever the app was started (issue 16's StreamlitPageNotFoundError)."""
    return str(page_dir() / "lessons.py")


def link(lesson: str | None, label: str, container: Any = None) -> None:
    """A link to the Lessons page, opening ``lesson`` when given."""
    # engine text: the first argument is the page's script path, never shown; the label is escaped
    (container or st).page_link(lessons_page(), label=safe.md(label, safe.MESSAGE_LIMIT),  # engine text
                                icon=":material/school:", query_params={QUERY: lesson} if lesson else None)


def sidebar() -> None:
    """Under the navigation on every page: where the vanishing gradient shows."""
    with st.sidebar:
        safe.caption("New to skip connections? The lessons train a pair of nets side by side and show where the "
                     "vanishing gradient really appears, and why BatchNorm hides it.")
        link(None, "Start with the lessons")


def show_hint(hint: Any, container: Any = None) -> None:
    box = container or st
    safe.info(hint.text, container=box)
    link(hint.lesson, f"Lesson: {hint.lesson_title}", container=box)


def run_story(store: Any, run_id: int, container: Any = None) -> None:
    """Train: one sentence on the run's gradient at init, why, and the lesson that shows it."""
    from engine.api import lessons as ls  # here, not above: the lessons import torch, and the sidebar is on every page

    hint = ls.run_hint(store, run_id)
    if hint is not None:
        show_hint(hint, container=container)


def flow_words(store: Any, runs: Mapping[str, int], steps: Sequence[int | None], when: str) -> None:
    """Compare: the runs' gradient flow in words (from their data), and why they do not differ when they do not."""
    from engine.api import gradient_flow_text
    from engine.api import lessons as ls

    if not runs:
        return
    safe.caption("In words: the first and last conv / linear layers' gradient norms; ratios within a factor 10 count "
                 "as no difference.")
    for line in gradient_flow_text(store, dict(runs), list(steps), when=when):
        st.markdown("- " + safe.md(line, safe.MESSAGE_LIMIT))
    hint = ls.runs_hint(store, runs)
    if hint is not None:
        show_hint(hint)


def linked_lesson(names: Sequence[str], key: str) -> None:
    """Select the lesson named in the URL once per link (a later pick on the page is the user's), and keep the URL
    on the lesson shown so it can be shared."""
    ss = st.session_state
    wanted = st.query_params.get(QUERY)
    if wanted in names and ss.get(f"{key}_linked") != wanted:
        ss[key] = wanted
        ss[f"{key}_linked"] = wanted


def show_lesson_in_url(name: str, key: str) -> None:
    st.session_state[f"{key}_linked"] = name
    if st.query_params.get(QUERY) != name:
        st.query_params[QUERY] = name
