"""Gradient flow in words (engine.analysis.gradflow), on synthetic per-layer gradient norms."""

import math

import numpy as np
import pytest

from engine.analysis.gradflow import (
    decades_apart,
    describe_point,
    describe_runs,
    flow_point,
    layer_grads,
    relative_levels,
    sci,
)

STEPS = np.array([1, 50, 100])


def resnet_layers(blocks: int = 3) -> list[dict]:
    """stem.conv, then per stage `blocks` (conv, bn) pairs, then head.fc: the layer rows a run stores."""
    rows = [{"name": "stem.conv", "op": "conv2d", "stage": "stem"}]
    for s in (1, 2, 3):
        for b in range(blocks):
            rows += [{"name": f"stage{s}.block{b}.conv1", "op": "conv2d", "stage": f"stage{s}"},
                     {"name": f"stage{s}.block{b}.bn1", "op": "batchnorm2d", "stage": f"stage{s}"}]
    return rows + [{"name": "head.fc", "op": "linear", "stage": "head"}]


def run(label: str, per_layer: float, layers: list[dict] | None = None, steps: np.ndarray = STEPS):
    """Weighted layers' norms fall by `per_layer` per layer toward the input (last layer 1); BN rows are 5."""
    layers = layers or resnet_layers()
    weighted = [i for i, r in enumerate(layers) if r["op"] != "batchnorm2d"]
    norms = np.full((len(layers), len(steps)), 5.0)
    for depth_from_end, i in enumerate(reversed(weighted)):
        norms[i] = per_layer ** depth_from_end
    return layer_grads(label, layers, steps, norms)


def test_sci_formats_ratios_for_text():
    values = (0.79, 12.0, 4512.0, 3.2e-19, 1.6e4, 0.0)
    assert [sci(x) for x in values] == ["0.79", "12", "4,500", "3.2e-19", "1.6e4", "0"]


def test_the_ratio_reads_weighted_layers_only_and_skips_frozen_ones():
    layers = resnet_layers(1)
    layers[0]["frozen"] = True
    g = run("r", 0.5, layers)
    assert [g.names[i] for i in g.weighted] == ["stage1.block0.conv1", "stage2.block0.conv1", "stage3.block0.conv1",
                                                 "head.fc"]
    p = flow_point(g)
    assert p.first_layer == "stage1.block0.conv1" and p.last_layer == "head.fc"


def test_unknown_ops_fall_back_to_every_layer():
    layers = [{"name": f"l{i}", "op": "mystery"} for i in range(4)]
    g = layer_grads("x", layers, STEPS, np.ones((4, 3)))
    assert g.weighted == [0, 1, 2, 3]


@pytest.mark.parametrize(("per_layer", "verdict", "words"), [
    (0.1, "vanishes", "vanishes toward the input"),
    (0.95, "keeps", "keeps its size"),
    (4.0, "grows", "grows toward the input"),
])
def test_verdicts(per_layer, verdict, words):
    p = flow_point(run("r", per_layer))
    assert p.verdict == verdict and words in p.phrase()


def test_a_zero_first_layer_gradient_is_said_to_have_underflowed():
    g = run("plain", 0.1)
    g.norms[0] = 0.0
    p = flow_point(g)
    assert p.verdict == "zero" and "exactly 0" in p.phrase()
    assert math.isinf(decades_apart(0.0, 0.8))


def test_points_are_read_at_the_last_logged_step_at_or_before():
    g = run("r", 0.5)
    assert flow_point(g, 75).step == 50
    assert flow_point(g, 0).step == 1  # before the first logged step: the first one
    assert flow_point(g).step == 100


def test_plain_vs_residual_says_how_far_apart_and_where():
    plain, residual = run("plain56", 0.5), run("resnet56", 0.98)
    text = describe_point([plain, residual], [100, 100], "at 100% of each run")
    assert text.differ
    r_plain, r_res = flow_point(plain).ratio, flow_point(residual).ratio
    d = math.log10(r_res / r_plain)
    line = text.comparison[0]
    assert f"plain56's first-layer gradient is {sci(r_plain)} of its last at step 100" in line
    assert f"resnet56 keeps {sci(r_res)}" in line and f"10^{d:.1f} difference" in line
    # the first stage is farthest from the head: that is where a per-layer decay differs most
    assert text.comparison[1].startswith("They differ most in stage1")
    levels = relative_levels(plain, 2)
    assert levels["stage1"] < levels["stage2"] < levels["stage3"]


def test_identical_runs_are_said_not_to_differ():
    text = describe_point([run("a", 0.9), run("b", 0.9)], [None, None], "at the end")
    assert not text.differ
    assert "no difference" in text.comparison[0] and "within a factor 10" in text.comparison[0]
    assert len(text.comparison) == 1


def test_nets_without_shared_stages_are_compared_by_depth():
    mlp = [{"name": "stem.fc", "op": "linear", "stage": "stem"}] + [
        {"name": f"layer{i}.fc", "op": "linear", "stage": "layers"} for i in range(9)] + [
        {"name": "head.fc", "op": "linear", "stage": "head"}]
    text = describe_point([run("plain", 0.3, mlp), run("residual", 1.0, mlp)], [None, None], "at the end")
    assert "They differ most in the input third" in text.comparison[1]


def test_describe_runs_covers_init_and_the_chosen_point_and_empty_runs():
    empty = layer_grads("empty", resnet_layers(), np.zeros(0, np.int64), np.zeros((len(resnet_layers()), 0)))
    lines = describe_runs([run("a", 0.5), run("b", 0.97), empty], [50, 50, None], "at 50% of each run")
    assert any(line.startswith("At init a's first-layer gradient") for line in lines)
    assert any(line.startswith("At 50% of each run a's first-layer gradient") for line in lines)
    assert not any("empty" in line for line in lines)
    assert describe_point([empty], [None], "at the end").lines == ["No gradient statistics logged yet."]
    # the chosen point is the first logged step: one paragraph, not the same one twice
    assert len(describe_runs([run("a", 0.5), run("b", 0.97)], [1, 1], "at 0% of each run")) == 4


def test_the_words_follow_the_numbers_not_the_labels():
    text = describe_point([run("plain", 0.98), run("residual", 0.5)], [None, None], "at the end")
    assert text.differ
    assert text.comparison[0].startswith("At the end residual's first-layer gradient is")
    assert "plain keeps" in text.comparison[0]
    assert "vanishes" in text.per_run[1] and "keeps its size" in text.per_run[0]


@pytest.mark.parametrize(("ratio", "words"), [
    (0.02, "smaller, but above the 0.001 that counts as vanishing"),
    (4.7, "4.7 times the last layer's gradient: it keeps its size"),
    (60.0, "larger, but below the 1,000 that counts as growing"),
])
def test_between_the_thresholds_the_words_say_which_way(ratio, words):
    from engine.analysis.gradflow import FlowPoint

    point = FlowPoint("r", 1, "first", "last", ratio, 1.0)
    assert point.verdict == "keeps" and words in point.phrase()


def test_a_larger_first_layer_gradient_is_not_said_to_be_kept():
    # Plain-20 vs ResNet-20 with BatchNorm, as measured at init: 4.7 and 0.3
    text = describe_point([run("plain20", 1.2), run("resnet20", 0.85)], [None, None], "at init")
    assert "plain20's is" in text.comparison[0] and "times its last" in text.comparison[0]
