"""Gradient-flow monitor: statistics equal a hand-computed reference; hooks never leak; vanishing gradients."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from engine.api import expand
from engine.build import build
from engine.data import batches
from engine.train.events import Alert
from engine.train.monitor import ActivationProbe, find_layers
from engine.train.trainer import train
from tests.train_helpers import (
    FAST,
    collect,
    dataset,
    layer_matrix,
    mlp_graph,
    one_torch_thread,  # noqa: F401  (autouse fixture)
)

SEED = 3
STEPS = 3
LR = 0.05


def _reference(spec: str, ds, batch: int, clip: float | None = None) -> dict[str, np.ndarray]:
    """The same steps by hand: plain SGD, the trainer's batch order, p.grad.norm() per parameter, the gradient
    statistics read before clipping (what backprop produced), the update after it."""
    graph = expand(spec)
    model = build(graph, "cpu", seed=SEED)
    model.train()
    depth = {name: i for i, name in enumerate(graph.topo_order())}
    names = sorted((name for name, m in model.named_modules() if any(True for _ in m.parameters(recurse=False))),
                   key=depth.__getitem__)
    opt = torch.optim.SGD(model.parameters(), lr=LR)
    it = batches(ds.x_train, ds.y_train, batch, shuffle=True, generator=torch.Generator().manual_seed(SEED),
                 drop_last=True)
    out: dict[str, list[list[float]]] = {k: [] for k in ("grad_norm", "grad_mean_abs", "grad_max_abs",
                                                         "weight_norm", "update_ratio")}
    for _ in range(STEPS):
        x, y = next(it)
        loss = F.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        rows: dict[str, list[float]] = {k: [] for k in out}
        before = {}
        for name in names:
            ps = list(model.get_submodule(name).parameters())
            rows["grad_norm"].append(math.sqrt(sum(float(p.grad.norm()) ** 2 for p in ps)))
            rows["grad_mean_abs"].append(sum(float(p.grad.abs().sum()) for p in ps) / sum(p.numel() for p in ps))
            rows["grad_max_abs"].append(max(float(p.grad.abs().max()) for p in ps))
            rows["weight_norm"].append(math.sqrt(sum(float(p.detach().norm()) ** 2 for p in ps)))
            before[name] = [p.detach().clone() for p in ps]
        if clip is not None:
            torch.nn.utils.clip_grad_norm_(model.parameters(), clip)
        opt.step()
        for name, w in zip(names, rows["weight_norm"], strict=True):
            ps = list(model.get_submodule(name).parameters())
            upd = math.sqrt(sum(float((p.detach() - b).norm()) ** 2 for p, b in zip(ps, before[name], strict=True)))
            rows["update_ratio"].append(upd / w)
        for k in out:
            out[k].append(rows[k])
    return {k: np.array(v) for k, v in out.items()}


@pytest.mark.parametrize("clip", [None, 1e-3])
def test_layer_stats_equal_hand_reference(clip) -> None:
    # With clipping, every gradient statistic (norm, mean and max |g|) is of the unclipped gradient.
    ds = dataset("shapes", train_size=64, val_size=16)
    cfg = {**FAST, "steps": STEPS, "lr": LR, "momentum": 0.0, "weight_decay": 0.0, "schedule": "constant",
           "log_every": 1, "augment": False, "seed": SEED, "diverge_factor": None, "grad_clip": clip}
    events, done = collect(train("resnet8", cfg, dataset=ds))
    assert done.status == "done"
    ref = _reference("resnet8", ds, 16, clip)
    for stat, want in ref.items():
        steps, got = layer_matrix(events, stat)
        assert steps == [1, 2, 3]
        assert got.shape == want.shape == (3, 15)
        np.testing.assert_allclose(got, want, rtol=2e-4, atol=1e-8, err_msg=stat)


def test_layers_are_parametrised_nodes_in_depth_order() -> None:
    graph = expand("resnet8")
    model = build(graph, "cpu", seed=0)
    layers, params = find_layers(graph, model)
    names = [layer.name for layer in layers]
    assert names[0] == "stem.conv" and names[-1] == "head.fc"
    assert "stage1.block0.add" not in names and "stem.relu" not in names  # no parameters, no layer
    assert [layer.stage for layer in layers][:3] == ["stem", "stem", "stage1"]
    assert layers[2].block == "stage1.block0"
    assert sum(layer.params for layer in layers) == sum(p.numel() for p in model.parameters())
    assert sum(len(ps) for ps in params) == len(list(model.parameters()))


def test_activation_stats_and_hooks_removed_even_on_error() -> None:
    graph = expand("resnet8")
    model = build(graph, "cpu", seed=0)
    layers, _ = find_layers(graph, model)
    probe = ActivationProbe(graph, model, layers, torch.device("cpu"))
    x = torch.randn(4, 3, 32, 32)
    with probe.capture(step=1):
        model(x)
    assert all(not m._forward_hooks for m in model.modules())
    _, stats = probe.flush()
    i = [layer.name for layer in layers].index("stem.bn")
    # reference: the ReLU after stem.bn, computed by hand
    with torch.no_grad():
        stem = model.get_submodule("stem.bn")(model.get_submodule("stem.conv")(x))
    assert stats["act_zero_frac"][0, i] == pytest.approx(float((torch.relu(stem) == 0).float().mean()), abs=1e-6)
    assert stats["act_mean"][0, i] == pytest.approx(float(stem.mean()), abs=1e-5)
    assert stats["act_std"][0, i] == pytest.approx(float(stem.std(correction=0)), rel=1e-4)
    assert np.isnan(stats["act_zero_frac"][0, [layer.name for layer in layers].index("head.fc")])
    with pytest.raises(RuntimeError), probe.capture(step=2):
        model(x)
        raise RuntimeError("a failing step")
    assert all(not m._forward_hooks for m in model.modules())


@pytest.mark.parametrize("residual", [False, True])
def test_plain_deep_mlp_vanishes_residual_does_not(residual: bool) -> None:
    """He et al. 2016 / Glorot & Bengio 2010: 50 plain layers with PyTorch's default init and no norm
    starve the first layer of gradient; identity shortcuts keep it alive."""
    ds = dataset("digits", flatten=True)
    spec = mlp_graph(50, residual=residual, init="default")
    events, done = collect(train(spec, {**FAST, "steps": 1, "log_every": 1, "diverge_factor": None}, dataset=ds))
    _, g = layer_matrix(events, "grad_norm")
    ratio = g[0, 0] / g[0, -1]
    alerts = [ev for ev in events if isinstance(ev, Alert) and ev.kind == "vanishing"]
    if residual:
        assert ratio > 1e-2
        assert not alerts
    else:
        assert ratio < 1e-6
        assert alerts and alerts[0].layer == "stem.fc" and alerts[0].step == 1
