"""Why a run's gradient looks as it does (engine.lab.lessons.hints), from synthetic gradient records: each outcome
says what its numbers say, and the opposite numbers say the opposite."""

import numpy as np
import pytest

from engine.lab.lessons import get_lesson, run_hint, runs_hint
from engine.store import RunStore


def record(store: RunStore, name: str, decay: float, bn: bool, steps: int = 3) -> int:
    """A run of 6 convs (a BatchNorm after each when `bn`) and a linear head; the weighted layers' gradient norm
    falls by `decay` per layer toward the input (the head's is 1)."""
    run_id = store.create_run(name, {"family": "resnet", "name": name}, {"steps": steps}, "shapes", "cpu",
                              status="running")
    layers = []
    for i in range(6):
        layers.append({"name": f"stage1.block{i}.conv1", "op": "conv2d", "stage": "stage1"})
        if bn:
            layers.append({"name": f"stage1.block{i}.bn1", "op": "batchnorm2d", "stage": "stage1"})
    layers.append({"name": "head.fc", "op": "linear", "stage": "head"})
    store.set_layers(run_id, layers)
    weighted = [i for i, layer in enumerate(layers) if layer["op"] != "batchnorm2d"]
    norms = np.full(len(layers), 3.0)
    norms[weighted] = decay ** np.arange(len(weighted))[::-1]
    for step in range(1, steps + 1):
        store.log_layer_stats(run_id, step, {"grad_norm": norms.astype(np.float32)})
    store.set_status(run_id, "done")
    return run_id


@pytest.fixture
def store(store_path):
    return RunStore(store_path)


def test_a_vanishing_gradient_is_named_with_its_number_and_the_shortcut_lesson(store):
    hint = run_hint(store, record(store, "plain", 0.1, bn=False))
    assert "the first layer gets 1.0e-6 of the last layer's gradient: it vanishes toward the input" in hint.text
    assert hint.text.startswith("At init (step 1, before any update)")
    assert hint.lesson == "vanishing_mlp" and hint.lesson_title == get_lesson("vanishing_mlp").title


def test_a_batchnorm_net_that_keeps_its_gradient_is_told_why(store):
    hint = run_hint(store, record(store, "resnet20", 0.97, bn=True))
    assert "keeps its size" in hint.text and "normalisation layers (6 batchnorm2d)" in hint.text
    assert "Ioffe & Szegedy 2015" in hint.text and hint.lesson == "vanishing_conv"


def test_the_same_batchnorm_net_with_a_vanishing_gradient_is_not_told_batchnorm_hides_it(store):
    hint = run_hint(store, record(store, "odd", 0.1, bn=True))  # the numbers win over the net's make-up
    assert "vanishes" in hint.text and "normalisation" not in hint.text


def test_a_net_without_normalisation_that_keeps_its_gradient(store):
    hint = run_hint(store, record(store, "resmlp", 1.0, bn=False))
    assert "keeps its size" in hint.text and "normalisation layers" not in hint.text
    assert "He init" in hint.text and hint.lesson == "vanishing_mlp"


def test_no_gradient_logged_no_hint(store):
    run_id = store.create_run("empty", {"family": "mlp"}, {"steps": 3}, "digits", "cpu", status="running")
    assert run_hint(store, run_id) is None


def test_runs_that_differ_need_no_hint_and_alike_ones_are_told_why(store):
    plain, residual = record(store, "plain", 0.1, bn=False), record(store, "residual", 0.97, bn=False)
    assert runs_hint(store, {"plain": plain, "residual": residual}) is None  # the comparison tells it
    bn = {"plain20": record(store, "plain20", 0.95, bn=True), "resnet20": record(store, "resnet20", 0.97, bn=True)}
    hint = runs_hint(store, bn)
    assert "every one has normalisation layers" in hint.text and hint.lesson == "vanishing_conv"
    grows = {"plain20": record(store, "plain20g", 2.0, bn=True), "resnet20": bn["resnet20"]}  # 10^1.8 apart
    assert "can even grow toward the input" in runs_hint(store, grows).text  # not alike, and still why
    mixed = runs_hint(store, {"residual": residual, "resnet20": bn["resnet20"]})
    assert "normalisation" not in mixed.text and "He init" in mixed.text
    both = runs_hint(store, {"a": plain, "b": record(store, "plain_b", 0.1, bn=False)})
    assert both.text.startswith("Every run's gradient vanishes toward the input at init, alike")
