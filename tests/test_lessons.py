"""Lessons (engine.lab.lessons): the definitions are well formed, and the conclusion is computed from the runs'
numbers, saying so when they do not show what the sources predict (synthetic runs written into a store)."""

import math

import pytest

from engine.analysis.gradflow import sci
from engine.api import SpecError, expand, load_spec
from engine.lab.lessons import (
    NOT_SHOWN,
    SHOWED,
    UNMEASURED,
    Expectation,
    Lesson,
    Variant,
    find,
    get_lesson,
    last_settings,
    lesson_names,
    read,
    register_lesson,
)
from engine.store import RunStore
from engine.train.config import parse_config
from engine.train.record import create_run
from tests.fake_runs import fake_run


@pytest.mark.parametrize("name", lesson_names())
def test_every_lesson_is_a_pair_on_one_config(name):
    lesson = get_lesson(name)
    for settings in (lesson.settings(), lesson.settings(lesson.tiny)):
        a, b = lesson.plan(settings)
        assert a.config == b.config and a.config["seed"] == settings.seed  # same init seed and batches
        assert a.spec != b.spec and a.name != b.name
        parse_config(a.config)
        for run in (a, b):
            expand(load_spec(run.spec))  # builds: shapes check out
    assert lesson.explanation and lesson.setup and lesson.question
    assert all(e.source for e in lesson.expectations)
    assert any(e.stat.endswith("ratio_init") for e in lesson.expectations)  # every lesson reads the init gradient


def test_lessons_cover_the_story():
    assert lesson_names()[:3] == ["vanishing_mlp", "vanishing_conv", "batchnorm_hides"]
    conv, bn = get_lesson("vanishing_conv"), get_lesson("batchnorm_hides")
    for (va, vb) in zip(conv.variants, bn.variants, strict=True):  # "the same with BN": only the norm differs
        assert {k: v for k, v in va.spec.items() if k not in ("norm", "name")} == \
               {k: v for k, v in vb.spec.items() if k not in ("norm", "name")}
        assert (va.spec["norm"], vb.spec["norm"]) == ("none", "batch")
    assert conv.config == bn.config
    assert "1.6e4" in bn.explanation and "Ioffe & Szegedy 2015" in bn.explanation and "He et al. 2016" in bn.explanation


def test_settings_are_validated_with_the_key_named():
    lesson = get_lesson("vanishing_mlp")
    assert lesson.settings().steps == lesson.steps
    with pytest.raises(SpecError, match="settings.epochs"):
        lesson.settings({"epochs": 3})
    with pytest.raises(SpecError, match="settings.steps"):
        lesson.settings({"steps": 0})


def test_an_expectation_must_name_a_variant_of_its_lesson():
    bad = Lesson("bad", "t", "q", (Variant("a", {}, ""), Variant("b", {}, "")), {},
                 (Expectation("x", "c", "val_acc", "above", 0.0, "src"),), "why", "setup")
    with pytest.raises(ValueError, match="names a variant not in"):
        register_lesson(bad)


def pair(store: RunStore, plain_decay: float, residual_decay: float, accs=(0.1, 0.95), status="done"):
    """A plain / residual pair of synthetic runs: per-layer gradient norms fall by `decay` per layer."""
    ids = {}
    for label, decay, acc in (("plain", plain_decay, accs[0]), ("residual", residual_decay, accs[1])):
        ids[label] = fake_run(store, label, layers=6, steps=20, decay=decay, status=status)
        store.set_summary(ids[label], {"val_acc": acc, "loss": 0.1})
    return ids


def test_conclusion_from_runs_that_show_the_effect(store_path):
    store = RunStore(store_path)
    res = read(get_lesson("vanishing_mlp"), store, pair(store, 0.1, 0.97))
    assert res.finished
    assert [v.outcome for v in res.verdicts] == [SHOWED, SHOWED, SHOWED]
    text = "\n".join(res.conclusion)
    plain, residual = (v.init.ratio for v in res.variants)
    assert plain == pytest.approx(0.1 ** 5, rel=0.2) and residual == pytest.approx(0.97 ** 5, rel=0.2)
    assert f"plain: the first layer gets {sci(plain)} of the last layer's gradient: it vanishes" in text
    assert f"a 10^{math.log10(residual / plain):.1f} difference" in text
    assert "validation accuracy plain 10.0%, residual 95.0%" in text
    assert "These runs show every expected effect." in text
    assert "What this shows: Without normalisation" in text
    assert "These runs trained 20 steps; the lesson's default is 300." in text  # honest about a short run
    assert set(res.figures["ratio"]) == {"plain", "residual"} and res.figures["profile_init"]["plain"]


def test_conclusion_says_plainly_what_did_not_show(store_path):
    store = RunStore(store_path)
    res = read(get_lesson("vanishing_mlp"), store, pair(store, 0.9, 0.9, accs=(0.5, 0.5)))
    assert [v.outcome for v in res.verdicts] == [NOT_SHOWN, SHOWED, NOT_SHOWN]
    text = "\n".join(res.conclusion)
    assert "Did not show: plain's gradient vanishes toward the input at init" in text
    measured = res.variants[0].init.ratio
    assert measured == pytest.approx(0.9 ** 5, rel=0.2)
    assert f"plain first/last {sci(measured)}" in text  # the measured number, not the expected one
    assert "no difference in how much gradient reaches the first layer" in text
    assert "2 of 3 expected effects did not show in these runs" in text
    assert "What this shows" not in text
    assert "What the sources predict: Without normalisation" in text and "does not bear it out" in text


def test_running_pair_reports_numbers_so_far_and_no_verdicts(store_path):
    store = RunStore(store_path)
    res = read(get_lesson("vanishing_mlp"), store, pair(store, 0.1, 0.97, status="running"))
    assert not res.finished
    text = "\n".join(res.conclusion)
    assert "plain is running (step 20): the numbers below are so far." in text
    assert "Showed" not in text and "Did not show" not in text


def test_a_failed_or_deleted_run_is_named_and_its_numbers_unmeasured(store_path):
    store = RunStore(store_path)
    ids = pair(store, 0.1, 0.97)
    store.set_status(ids["plain"], "diverged", "loss became NaN")
    store.delete_run(ids["residual"])
    res = read(get_lesson("vanishing_mlp"), store, ids)
    text = "\n".join(res.conclusion)
    assert "plain ended diverged at step 20: loss became NaN." in text
    assert "residual: its run is no longer in the store" in text
    assert res.verdicts[1].outcome == UNMEASURED and math.isnan(res.verdicts[1].value)


def test_find_re_attaches_to_the_newest_pair_at_the_same_settings(store_path):
    store = RunStore(store_path)
    lesson = get_lesson("vanishing_mlp")
    settings = lesson.settings(lesson.tiny)
    assert find(lesson, settings, store) is None and last_settings(lesson, store) is None
    ids = {}
    for _ in range(2):  # two tries: the newer pair wins
        ids = {r.label: create_run(store, r.spec, r.config, status="done", name=r.name) for r in lesson.plan(settings)}
    assert find(lesson, settings, store) == ids
    assert last_settings(lesson, store) == {"steps": settings.steps, "seed": 0}  # the page opens on this pair
    assert find(lesson, lesson.settings({**lesson.tiny, "seed": 1}), store) is None  # other settings: other runs


def test_the_opposite_numbers_give_the_opposite_conclusion(store_path):
    store = RunStore(store_path)
    res = read(get_lesson("vanishing_mlp"), store, pair(store, 0.97, 0.1, accs=(0.95, 0.1)))
    assert [v.outcome for v in res.verdicts] == [NOT_SHOWN, NOT_SHOWN, NOT_SHOWN]
    text = "\n".join(res.conclusion)
    assert "plain: the first layer gets" in text and "residual: the first layer gets" in text
    assert "residual's first-layer gradient is" in text and "plain keeps" in text  # the vanishing one named first
    assert "Did not show: residual reaches a higher validation accuracy than plain — residual 10.0% vs plain 95.0%" \
        in text
    assert "3 of 3 expected effects did not show" in text
