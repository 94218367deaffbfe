"""The trainer: divergence, reproducibility, config errors, cancel, weights, schedules, tasks, learning."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from engine.api import build_model
from engine.arch import FAMILIES, get_preset
from engine.core.errors import SpecError
from engine.data import DataError
from engine.spec import to_dict
from engine.train.config import TrainConfig, parse_config
from engine.train.events import Alert, Metrics, Started
from engine.train.optim import lr_at
from engine.train.tasks import Task
from engine.train.trainer import train
from tests.train_helpers import (
    FAST,
    collect,
    dataset,
    layer_matrix,
    logreg_graph,
    metric,
    mlp_graph,
    one_torch_thread,  # noqa: F401  (autouse fixture)
)


def tiny_shapes():
    return dataset("shapes", train_size=64, val_size=32)


def test_lr_1e4_diverges_within_a_few_steps_naming_a_layer() -> None:
    events, done = collect(train("resnet8", {**FAST, "steps": 30, "lr": 1e4}, dataset=tiny_shapes()))
    assert done.status == "diverged" and done.step <= 5
    alert = next(ev for ev in events if isinstance(ev, Alert) and ev.kind == "diverged")
    layers = {layer.name for layer in events[0].layers}
    assert alert.layer in layers
    assert f"step {done.step}" in done.error and alert.layer in done.error
    assert done.weights_path is None  # NaN weights are not worth keeping


def test_nan_is_traced_to_the_first_layer_it_reaches() -> None:
    ds = tiny_shapes()
    poisoned = type(ds)(ds.info, ds.x_train.clone(), ds.y_train, ds.x_val, ds.y_val, False)
    poisoned.x_train[:, 0, 5, 5] = float("nan")  # every sample: the first batch is poisoned
    events, done = collect(train("resnet8", {**FAST, "steps": 5}, dataset=poisoned))
    assert done.status == "diverged" and done.step == 1
    alert = next(ev for ev in events if isinstance(ev, Alert) and ev.kind == "diverged")
    assert alert.layer == "stem.conv"
    assert "output of stem.conv" in done.error


def test_seeded_cpu_runs_are_reproducible() -> None:
    cfg = {**FAST, "steps": 6, "log_every": 2, "act_every": 3, "seed": 7}
    runs = [collect(train("resnet8", c, dataset=tiny_shapes()))[0] for c in (cfg, cfg, {**cfg, "seed": 8})]
    for stat in ("grad_norm", "update_ratio", "act_std"):
        a, b, c = (layer_matrix(ev, stat)[1] for ev in runs)
        np.testing.assert_array_equal(a, b)
        assert not np.allclose(a, c)
    assert metric(runs[0], "loss") == metric(runs[1], "loss")


def test_config_errors_name_the_field() -> None:
    with pytest.raises(SpecError, match=r"config\.optimizer"):
        parse_config({"optimizer": "lion"})
    with pytest.raises(SpecError, match=r"config\.stepz.*valid options"):
        parse_config({"stepz": 3})
    with pytest.raises(SpecError, match=r"config\.steps.*greater than 0"):
        parse_config({"steps": 0})
    with pytest.raises(SpecError, match="nesterov"):
        parse_config({"optimizer": "adamw", "nesterov": True})
    with pytest.raises(SpecError, match=r"config\.amp.*CUDA"):
        list(train("resnet8", {**FAST, "amp": "bf16"}, dataset=tiny_shapes()))
    assert parse_config({"optimizer": "adamw"}).peak_lr == 1e-3
    assert parse_config(TrainConfig(steps=5), lr=0.5).peak_lr == 0.5


def test_dataset_that_does_not_fit_the_spec_is_a_clear_error() -> None:
    with pytest.raises(DataError, match=r"\[64\].*\[3, 32, 32\]"):
        list(train("resnet8", FAST, dataset=dataset("digits", flatten=True)))
    with pytest.raises(DataError, match="segmentation"):
        list(train("resnet8", FAST, dataset=dataset("shapes_seg", train_size=16, val_size=8)))


def test_should_stop_cancels_and_keeps_weights(tmp_path) -> None:
    calls = iter(range(100))
    events, done = collect(train("resnet8", {**FAST, "steps": 50}, dataset=tiny_shapes(),
                                 should_stop=lambda: next(calls) >= 3, weights_path=tmp_path / "w.pt"))
    assert done.status == "cancelled" and done.step == 3
    model = build_model("resnet8")
    model.load_state_dict(torch.load(done.weights_path))  # loads into a fresh build: same names
    assert isinstance(events[0], Started)


def test_schedules_and_warmup() -> None:
    cfg = TrainConfig(steps=100, lr=1.0, warmup_steps=10, schedule="cosine")
    assert lr_at(cfg, 0) == pytest.approx(0.1) and lr_at(cfg, 9) == pytest.approx(1.0)
    assert lr_at(cfg, 10) == pytest.approx(1.0) and lr_at(cfg, 55) == pytest.approx(0.5)
    step = TrainConfig(steps=90, lr=1.0, schedule="step", step_gamma=0.5)
    assert [lr_at(step, s) for s in (0, 29, 30, 60)] == [1.0, 1.0, 0.5, 0.25]
    assert lr_at(TrainConfig(schedule="constant", lr=0.3), 150) == 0.3
    # He et al. 2016's two decays, at 32k and 48k of 64k steps
    paper = TrainConfig(steps=64000, lr=0.1, schedule="step", step_milestones=[32000, 48000])
    assert [lr_at(paper, s) for s in (0, 31999, 32000, 47999, 48000, 63999)] == pytest.approx(
        [0.1, 0.1, 0.01, 0.01, 0.001, 0.001])
    with pytest.raises(ValueError, match="increasing"):
        TrainConfig(schedule="step", step_milestones=[48000, 32000])


@pytest.mark.parametrize("options", [
    {"optimizer": "adamw", "schedule": "step", "warmup_steps": 2, "grad_clip": 0.5},
    {"optimizer": "sgd", "nesterov": True, "schedule": "constant", "augment": True, "weight_decay": 0.0},
])
def test_optimizer_options_train(options: dict) -> None:
    events, done = collect(train("resnet8", {**FAST, "steps": 6, "log_every": 1, **options}, dataset=tiny_shapes()))
    assert done.status == "done"
    lrs = [v for _, v in metric(events, "lr")]
    assert len(lrs) == 6 and all(v > 0 for v in lrs)
    if "grad_clip" in options:
        # the logged norm is before clipping; the update is computed from the clipped gradient
        assert max(v for _, v in metric(events, "grad_norm")) > 0


def test_validation_metrics_and_summary() -> None:
    events, done = collect(train("resnet8", {**FAST, "steps": 4, "val_every": 2}, dataset=tiny_shapes()))
    val = metric(events, "val_acc")
    assert [s for s, _ in val] == [2, 4]
    assert 0.0 <= val[-1][1] <= 1.0
    assert {"loss", "acc", "val_loss", "val_acc", "steps", "wall_s", "best_val_acc"} <= set(done.summary)


def conv_seg_graph() -> dict:
    """A three-conv segmentation net (no pooling), standing in for a U-Net."""
    return {"family": "graph", "name": "segnet", "input": [3, 32, 32], "init": "he", "nodes": [
        {"name": "enc.conv", "op": "conv2d", "out_channels": 16, "kernel": 3},
        {"name": "enc.relu", "op": "relu", "in": "enc.conv"},
        {"name": "mid.conv", "op": "conv2d", "in": "enc.relu", "out_channels": 16, "kernel": 3},
        {"name": "mid.relu", "op": "relu", "in": "mid.conv"},
        {"name": "head.conv", "op": "conv2d", "in": "mid.relu", "out_channels": 1, "kernel": 1}]}


def test_segmentation_reports_iou_and_its_loss_falls() -> None:
    ds = dataset("shapes_seg", train_size=256, val_size=64)
    events, done = collect(train(conv_seg_graph(), {**FAST, "steps": 40, "optimizer": "adamw", "lr": 3e-3,
                                                    "log_every": 5}, dataset=ds))
    assert done.status == "done"
    assert "val_iou" in done.summary and "acc" not in done.summary
    assert 0.0 <= done.summary["val_iou"] <= 1.0
    losses = [v for _, v in metric(events, "loss")]
    assert losses[-1] < losses[0]


def test_segmentation_loss_and_iou_by_hand() -> None:
    task = Task("segmentation", "iou")
    mask = torch.zeros(2, 1, 4, 4)
    mask[:, :, :2, :2] = 1  # 4 of 16 pixels
    perfect = (mask * 2 - 1) * 20  # logits: +20 inside, -20 outside
    assert float(task.loss(perfect, mask)) < 1e-3  # BCE ~ 0 and Dice ~ 0
    num, den = task.counts(perfect, mask)
    assert float(num / den) == 1.0
    half = perfect.clone()
    half[:, :, 0, :2] = -20  # miss 2 of the 4 mask pixels: IoU = 2 / 4
    num, den = task.counts(half, mask[:, 0])  # masks may come without the channel dim
    assert float(num / den) == 0.5


# Tiny configs per family; families not merged on this branch are skipped (they register themselves).
FAMILY_CASES = {
    "resnet": ("shapes", {"train_size": 32, "val_size": 16}, {**to_dict(get_preset("resnet8"))}),
    "graph": ("digits", {"flatten": True}, mlp_graph(4)),
    "mlp": ("digits", {"flatten": True}, {"family": "mlp", "input": [64], "depth": 4, "width": 16,
                                         "connection": "residual"}),
    "densenet": ("shapes", {"train_size": 32, "val_size": 16},
                 {"family": "densenet", "input": [3, 32, 32], "num_classes": 10, "growth_rate": 4,
                  "block_config": [2, 2], "num_init_features": 8, "stem": "cifar"}),
    "unet": ("shapes_seg", {"train_size": 32, "val_size": 16},
             {"family": "unet", "input": [3, 32, 32], "out_channels": 1, "widths": [8, 16]}),
    "transformer": ("sequence", {"train_size": 64, "val_size": 16},
                    {"family": "transformer", "input": [32], "vocab": 16, "num_classes": 10, "d_model": 16,
                     "heads": 2, "depth": 1}),
}


@pytest.mark.parametrize("family", sorted(FAMILY_CASES))
def test_every_family_trains(family: str) -> None:
    if family not in FAMILIES:
        import engine.arch.families  # noqa: F401  (registers the families present on this branch)
    if family not in FAMILIES:
        pytest.skip(f"family {family!r} is not on this branch yet")
    name, options, spec = FAMILY_CASES[family]
    events, done = collect(train(spec, {**FAST, "steps": 3, "log_every": 1, "act_every": 1},
                                 dataset=dataset(name, **options)))
    assert done.status == "done", done.error
    _, g = layer_matrix(events, "grad_norm")
    assert g.shape[0] == 3 and np.isfinite(g).all() and (g > 0).any()
    started = events[0]
    assert isinstance(started, Started) and started.layers
    assert any(isinstance(ev, Metrics) and math.isfinite(ev.values.get("loss", 0.0)) for ev in events)


@pytest.mark.slow
def test_small_resnet_learns_shapes_where_logistic_regression_does_not() -> None:
    """The issue's figure (resnet20, 32x32, 400 steps, >= 85%) is measured by bench/train.py --learn;
    here the same family on 16x16 images in 200 steps."""
    ds = dataset("shapes", train_size=2000, val_size=300, size=16)
    spec = {**to_dict(get_preset("resnet8")), "input": [3, 16, 16]}
    _, done = collect(train(spec, {**FAST, "steps": 200, "batch_size": 64}, dataset=ds))
    assert done.summary["val_acc"] >= 0.6
    logreg = {**logreg_graph(), "input": [3, 16, 16]}
    _, lin = collect(train(logreg, {**FAST, "steps": 200, "batch_size": 64, "optimizer": "adamw",
                                    "augment": False}, dataset=ds))
    assert lin.summary["val_acc"] < 0.5


def test_residual_mlp_learns_digits() -> None:
    spec = mlp_graph(6, width=128, residual=True)
    _, done = collect(train(spec, {**FAST, "steps": 500, "batch_size": 64, "optimizer": "adamw"},
                            dataset=dataset("digits", flatten=True)))
    assert done.summary["val_acc"] >= 0.95


def test_gpu_style_buffering_gives_the_same_events(monkeypatch) -> None:
    """On a GPU rows stay on the device and reach the host every `flush_every` steps; emulate that on
    the CPU and check nothing is lost or reordered, and a divergence is still pinned to its step."""
    cfg = {**FAST, "steps": 7, "log_every": 1, "act_every": 2, "flush_every": 3, "seed": 2}
    direct, _ = collect(train("resnet8", cfg, dataset=tiny_shapes()))
    monkeypatch.setattr("engine.train.trainer.sync_interval", lambda device, c: c.flush_every)
    buffered, done = collect(train("resnet8", cfg, dataset=tiny_shapes()))
    assert done.status == "done"
    for stat in ("grad_norm", "act_mean", "update_ratio"):
        s1, m1 = layer_matrix(direct, stat)
        s2, m2 = layer_matrix(buffered, stat)
        assert s1 == s2
        np.testing.assert_array_equal(m1, m2)
    assert metric(direct, "loss") == metric(buffered, "loss")
    events, done = collect(train("resnet8", {**FAST, "steps": 30, "lr": 1e4, "flush_every": 4, "log_every": 1},
                                 dataset=tiny_shapes()))
    assert done.status == "diverged" and done.step <= 5
    assert max(s for s, _ in metric(events, "loss")) <= done.step


def test_zero_initialised_layers_raise_no_false_exploding_alert() -> None:
    spec = {**to_dict(get_preset("resnet8")), "zero_init_residual": True}
    events, done = collect(train(spec, {**FAST, "steps": 4, "log_every": 1}, dataset=tiny_shapes()))
    assert done.status == "done"
    assert not [ev for ev in events if isinstance(ev, Alert)]
