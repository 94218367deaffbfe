"""What a lesson is: two variants of one net trained as a pair, what the sources say the pair shows, and how that
is read from the two runs.

    lesson = get_lesson("vanishing_mlp")
    settings = lesson.settings({"steps": 300})
    plan = lesson.plan(settings)       # [LessonRun(label="plain", name="vanishing_mlp · plain", spec, config), ...]

The two runs share one training config (seed included), so they start from the same init seed and see the same
batches in the same order (engine.train.trainer seeds both from it); only the spec differs. A lesson is one seed: a
demonstration, not a test (the Experiments page judges claims over seeds). Its expectations are fixed here, from
the sources, before any run; `engine.lab.lessons.results` reads them against the runs' numbers and says when the
numbers do not show them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from engine.core.errors import SpecError
from engine.core.registry import Registry
from engine.core.text import short

# What an expectation can read from a variant's run (results.py computes them):
#   log_ratio_init   log10(first / last weighted layer's gradient norm) at step 1: the gradient at init
#   abs_log_ratio_init  its absolute value (how far from "the same size" either way)
#   log_ratio_end    the same at the run's last logged step
#   loss_end         mean training loss over the last tenth of the logged steps
#   val_acc          validation accuracy at the end
STATS = ("log_ratio_init", "abs_log_ratio_init", "log_ratio_end", "loss_end", "val_acc")
Stat = Literal["log_ratio_init", "abs_log_ratio_init", "log_ratio_end", "loss_end", "val_acc"]


@dataclass(frozen=True)
class Expectation:
    """What the sources say the pair shows, as a statistic of one variant (or one variant minus the other, `than`)
    on one side of a threshold fixed before any run."""

    text: str  # in words, as the student reads it
    variant: str
    stat: Stat
    direction: Literal["above", "below"]
    threshold: float
    source: str
    than: str | None = None  # the statistic is variant's minus than's

    def describe(self) -> str:
        return f"{self.text} ({self.source})"


@dataclass(frozen=True)
class Variant:
    label: str  # "plain", "residual" ...
    spec: dict[str, Any]
    what: str  # one line: how this variant differs


class LessonSettings(BaseModel):
    """What a user may change: the length of the runs and the seed they share."""

    model_config = ConfigDict(extra="forbid")

    steps: int = Field(300, ge=1, le=5000, description="optimizer steps per run")
    seed: int = Field(0, ge=0, le=2**31 - 1, description="init and batch-order seed, shared by both runs")
    batch_size: int = Field(64, ge=2, le=1024)
    device: Literal["auto", "cpu", "cuda", "mps"] = "auto"


@dataclass(frozen=True)
class LessonRun:
    label: str
    name: str  # the run's name in the store
    spec: dict[str, Any]
    config: dict[str, Any]


@dataclass(frozen=True)
class Lesson:
    name: str
    title: str
    question: str  # what the student will see answered
    variants: tuple[Variant, Variant]
    config: dict[str, Any]  # the shared training config, less steps / seed / batch size (the settings)
    expectations: tuple[Expectation, ...]
    explanation: str  # why, with the sources
    setup: str  # the setting and how it differs from the sources'
    takeaway: str = ""  # what the pair shows when its numbers bear the sources out (results.py says when they don't)
    steps: int = 300  # default length, measured to fit about a minute of two CPU cores per pair
    tiny: dict[str, Any] = field(default_factory=lambda: {"steps": 4, "batch_size": 16})  # tests: seconds

    @property
    def labels(self) -> tuple[str, str]:
        return self.variants[0].label, self.variants[1].label

    def settings(self, data: dict[str, Any] | None = None) -> LessonSettings:
        """Settings from a dict (this lesson's default steps unless given); a bad value is a SpecError naming
        ``settings.<key>``."""
        try:
            return LessonSettings.model_validate({"steps": self.steps, **(data or {})})
        except ValidationError as exc:
            first = exc.errors(include_url=False)[0]
            key = ".".join(str(p) for p in first["loc"])
            if first["type"] == "extra_forbidden":
                raise SpecError(f"settings.{key}", f"a lesson has no setting {key!r}; valid settings: "
                                + ", ".join(LessonSettings.model_fields)) from None
            raise SpecError(f"settings.{key}", f"{first['msg']}, got {short(first.get('input'))}") from None

    def run_config(self, settings: LessonSettings) -> dict[str, Any]:
        steps = settings.steps
        return {**self.config, "steps": steps, "seed": settings.seed, "batch_size": settings.batch_size,
                "device": settings.device, "val_every": max(1, steps // 4), "log_every": max(1, min(5, steps // 20)),
                "act_every": 0, "save_weights": False}

    def plan(self, settings: LessonSettings) -> list[LessonRun]:
        """The pair: one config, two specs."""
        config = self.run_config(settings)
        return [LessonRun(v.label, f"{self.name} · {v.label}", v.spec, config) for v in self.variants]


LESSONS: Registry[Lesson] = Registry("lesson")


def register_lesson(lesson: Lesson) -> Lesson:
    labels = {v.label for v in lesson.variants}
    for e in lesson.expectations:  # a typo here would make an expectation silently unreadable
        if e.variant not in labels or (e.than is not None and e.than not in labels):
            raise ValueError(f"lesson {lesson.name!r}: expectation {e.text!r} names a variant not in {sorted(labels)}")
    return LESSONS.register(lesson.name, lesson)


def lesson_names() -> list[str]:
    return LESSONS.names()


def get_lesson(name: str) -> Lesson:
    if name not in LESSONS:
        raise SpecError("lesson", f"unknown lesson {short(name)}; valid lessons: {', '.join(LESSONS.names())}")
    return LESSONS.get(name)
