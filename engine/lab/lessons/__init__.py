"""Lessons: guided pairs of runs that show one effect each where it really shows (a vanishing gradient, what
shortcuts, BatchNorm and the init do about it), with the conclusion written from the runs' numbers.

    from engine.lab.lessons import get_lesson, start, find, read
    lesson = get_lesson("vanishing_mlp")
    ids = start(lesson, lesson.settings(), runner)      # {"plain": 12, "residual": 13}: ordinary runs of the store
    result = read(lesson, store, ids)                   # numbers, verdicts, conclusion lines, figure series
"""

from __future__ import annotations

from engine.lab.lessons import catalogue  # noqa: F401 - registers the lessons, in the order the page lists them
from engine.lab.lessons.base import (
    LESSONS,
    Expectation,
    Lesson,
    LessonRun,
    LessonSettings,
    Variant,
    get_lesson,
    lesson_names,
    register_lesson,
)
from engine.lab.lessons.hints import Hint, norm_layers, run_hint, runs_hint
from engine.lab.lessons.results import NOT_SHOWN, SHOWED, UNMEASURED, LessonResult, Verdict, read
from engine.lab.lessons.runs import active, cancel, find, last_settings, start

__all__ = ["LESSONS", "NOT_SHOWN", "SHOWED", "UNMEASURED", "Expectation", "Hint", "Lesson", "LessonResult",
           "LessonRun", "LessonSettings", "Variant", "Verdict", "active", "cancel", "find", "get_lesson",
           "last_settings", "lesson_names", "norm_layers", "read", "register_lesson", "run_hint", "runs_hint", "start"]
