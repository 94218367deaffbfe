"""The Lessons page's pieces: what a lesson compares, the settings form, and a pair's result (progress, the
conclusion written from the runs, the numbers table, four charts). Lesson text is the engine's; run statuses and
errors are shown literally (`dashboard.text`)."""

from __future__ import annotations

import math
from typing import Any

import pandas as pd
import streamlit as st

from dashboard import lesson_charts as lc
from dashboard import text as safe
from engine.api import lessons as ls
from engine.api import si

PREFIX = "lessons"
OUTCOME_BOX = {ls.SHOWED: safe.success, ls.NOT_SHOWN: safe.warning, ls.UNMEASURED: safe.info}


def describe(lesson: ls.Lesson) -> None:
    """The question, the two variants and the why, with the sources."""
    st.markdown("**" + safe.md(lesson.question, safe.MESSAGE_LIMIT) + "**")
    cols = st.columns(2)
    for col, v in zip(cols, lesson.variants, strict=True):
        col.markdown(f"**{safe.md(v.label)}** — {safe.md(v.what, safe.MESSAGE_LIMIT)}")
    with st.expander("Why, and the sources"):
        st.markdown(safe.md(lesson.explanation, 4000))
        safe.caption("Setting: " + lesson.setup)
        st.markdown("**What the sources say these runs should show** (fixed before any run):")
        for e in lesson.expectations:
            st.markdown("- " + safe.md(e.describe(), safe.MESSAGE_LIMIT))


def settings_form(lesson: ls.Lesson, initial: dict[str, int] | None = None) -> tuple[ls.LessonSettings, bool]:
    """Steps and seed (both runs share them), first at ``initial`` (the last pair's) or the lesson's defaults;
    returns the settings and whether Run was pressed."""
    initial = initial or {}
    with st.form(f"{PREFIX}_form_{lesson.name}"):
        c = st.columns([1, 1, 2])
        steps = c[0].number_input("Steps", 1, 5000, initial.get("steps", lesson.steps),
                                  key=f"{PREFIX}_steps_{lesson.name}",
                                  help="Optimizer steps per run. The default fits about a minute of two CPU cores.")
        seed = c[1].number_input("Seed", 0, 2**31 - 1, initial.get("seed", 0), key=f"{PREFIX}_seed_{lesson.name}",
                                 help="Both runs use it: the same init seed and the same batches in the same order.")
        c[2].markdown("")  # aligns the button with the inputs
        run = c[2].form_submit_button("Run lesson", type="primary",
                                      help="Trains both nets in child processes; the runs also appear on Runs and "
                                           "Compare.")
    return lesson.settings({"steps": int(steps), "seed": int(seed)}), run


def _ratio(point: Any) -> str:
    return "—" if point is None else point.ratio_text


def numbers_frame(result: ls.LessonResult) -> pd.DataFrame:
    rows = []
    for v in result.variants:
        rows.append({"variant": v.label, "run": f"#{v.run_id}" if v.run_id is not None else "", "status": v.status,
                     "steps": si(v.steps_done) if v.steps_done >= 1e4 else v.steps_done,
                     "first/last init": _ratio(v.init), "first/last end": _ratio(v.end),
                     "loss (end)": None if math.isnan(v.loss_end) else round(v.loss_end, 4),
                     "val acc": None if math.isnan(v.val_acc) else f"{v.val_acc:.1%}"})
    return pd.DataFrame(rows)


def render_result(result: ls.LessonResult, key: str) -> None:
    """The verdicts first (once both runs ended), the numbers in words, the numbers table, then the four charts."""
    box = st.container(border=True)
    box.subheader("What the runs show" if result.finished else "So far")
    tally, *caveats = result.closing or [""]
    if result.finished:
        box.markdown("**" + safe.md(tally, safe.MESSAGE_LIMIT) + "**")
        for verdict in result.verdicts:
            OUTCOME_BOX[verdict.outcome](verdict.text, container=box)
        for line in result.takeaway:
            box.markdown(safe.md(line, safe.MESSAGE_LIMIT))
    for line in result.summary:
        box.markdown("- " + safe.md(line, safe.MESSAGE_LIMIT))
    for line in caveats:
        safe.caption(line, container=box)
    st.dataframe(numbers_frame(result), hide_index=True, width="stretch", key=f"{key}_numbers")
    figs = result.figures
    left, right = st.columns(2)
    if figs.get("ratio"):
        safe.chart(lc.ratio_figure(figs["ratio"]), key=f"{key}_ratio", container=left)
    if figs.get("profile_init"):
        safe.chart(lc.profile_figure(figs["profile_init"], figs.get("profile_layers", {})), key=f"{key}_profile",
                   container=right)
    left, right = st.columns(2)
    if figs.get("loss"):
        safe.chart(lc.loss_figure(figs["loss"]), key=f"{key}_loss", container=left)
    if figs.get("val_acc"):
        safe.chart(lc.accuracy_figure(figs["val_acc"]), key=f"{key}_acc", container=right)
