"""Loss landscapes (engine.lab.landscape): directions, surfaces, Hessian, measures, shattering, store. Tiny nets."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from engine.build import build_model
from engine.lab.landscape import hessian, measures
from engine.lab.landscape.directions import Mover, difference, filter_norms, random_directions, weight_params
from engine.lab.landscape.options import LandscapeOptions, parse_options
from engine.lab.landscape.probe import Batches, prepare_model
from engine.lab.landscape.shatter import autocorrelation, correlation_length, shatter
from engine.lab.landscape.surface import SurfaceDone, SurfaceProgress, SurfaceStarted, compute_surface
from tests.train_helpers import one_torch_thread  # noqa: F401 - autouse fixture

TINY_RESNET = {"family": "resnet", "name": "tiny", "input": [3, 8, 8], "num_classes": 4,
               "stages": [{"blocks": 1, "width": 4}, {"blocks": 1, "width": 8, "stride": 2}]}


def _data(n: int = 40, shape: tuple[int, ...] = (3, 8, 8), classes: int = 4, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, *shape, generator=g), torch.randint(classes, (n,), generator=g)


def _surface(model: nn.Module, batches: Batches, **opts) -> dict:
    o = LandscapeOptions(**{"hessian": "none", "device": "cpu", **opts})
    done = [ev for ev in compute_surface(model, F.cross_entropy, batches, o) if isinstance(ev, SurfaceDone)][-1]
    assert done.status == "done"
    return done.result


def _trained_bn(model: nn.Module, x: torch.Tensor) -> None:
    """Non-trivial running statistics, so eval mode differs from the initial 0 / 1."""
    model.train()
    with torch.no_grad():
        for _ in range(3):
            model(x)
    model.eval()


def test_center_loss_is_the_models_own_loss_on_the_same_batches():
    model = build_model(TINY_RESNET, seed=0)
    x, y = _data(37)  # uneven last batch
    _trained_bn(model, x)
    batches = Batches.of(x, y, 16, torch.device("cpu"))
    prepare_model(model, batches)
    with torch.no_grad():
        own = float(F.cross_entropy(model(x), y))  # one pass over all samples, BN in eval mode
    r = _surface(model, batches, dim=2, grid=5)
    assert r["center_loss"] == pytest.approx(own, rel=1e-5)
    assert r["loss"][2][2] == pytest.approx(r["center_loss"], rel=1e-6)
    assert len(r["loss"]) == 5 and all(len(row) == 5 for row in r["loss"])
    assert r["alphas"][2] == 0.0 and r["betas"][2] == 0.0
    # the model is left as it was: weights and BN statistics
    with torch.no_grad():
        assert float(F.cross_entropy(model(x), y)) == pytest.approx(own, rel=1e-6)


def test_every_filter_of_a_direction_has_the_norm_of_its_weight_filter():
    for spec in (TINY_RESNET, {"family": "mlp", "input": [12], "depth": 4, "width": 6, "norm": "batch"}):
        model = build_model(spec, seed=1)
        (d,) = random_directions(model, seed=3, count=1)
        for name, p in weight_params(model):
            if p.dim() > 1:
                torch.testing.assert_close(filter_norms(d[name]), filter_norms(p), rtol=1e-5, atol=1e-7)
            else:  # BN scale / shift and biases stay as trained (Li et al. 2018 sec. 4)
                assert torch.count_nonzero(d[name]) == 0, name


def test_directions_depend_only_on_the_seed():
    model = build_model(TINY_RESNET, seed=0)
    a = random_directions(model, seed=5, count=2)
    b = random_directions(model, seed=5, count=2)
    c = random_directions(model, seed=6, count=2)
    name = next(n for n, p in weight_params(model) if p.dim() > 1)
    assert torch.equal(a[1][name], b[1][name])
    assert not torch.equal(a[0][name], a[1][name]) and not torch.equal(a[0][name], c[0][name])


def test_mover_returns_exactly_to_the_origin():
    model = build_model(TINY_RESNET, seed=0)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    mover = Mover(model, random_directions(model, 0, 2))
    mover.move(0.3, -0.7)
    assert not torch.equal(model.stem.conv.weight, before["stem.conv.weight"])
    mover.restore()
    for k, v in model.state_dict().items():
        assert torch.equal(v, before[k]), k


def test_logistic_regression_surface_is_convex():
    """Cross-entropy of a linear model is convex in its weights, so on any plane through them too."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(10, 3))
    x, y = _data(64, (10,), 3)
    batches = Batches.of(x, y, 32, torch.device("cpu"))
    r = _surface(model, batches, dim=2, grid=11, span=2.0)
    f = np.array(r["loss"])
    assert np.isfinite(f).all()
    eig = measures.curvature_2d(f, np.array(r["alphas"]), np.array(r["betas"]))
    scale = np.abs(eig["lambda_max"]).max()
    assert (eig["lambda_min"] >= -1e-4 * scale).all()  # PSD at every interior point, up to float32 rounding
    for line in (*f, *f.T):  # every row and column: second differences >= 0
        assert (np.diff(line, 2) >= -1e-5 * scale).all()
    assert r["measures"]["nonconvex_fraction"] == 0.0


def test_measures_see_a_non_convex_surface():
    a = np.linspace(-1, 1, 21)
    aa, bb = np.meshgrid(a, a)
    bowl = aa ** 2 + bb ** 2
    saddle = aa ** 2 - bb ** 2
    m_bowl = measures.surface_measures(bowl.tolist(), a.tolist(), a.tolist(), 0.0)
    m_saddle = measures.surface_measures(saddle.tolist(), a.tolist(), a.tolist(), 0.0)
    assert m_bowl["nonconvex_fraction"] == 0.0 and m_bowl["toward_center_fraction"] == 1.0
    assert m_saddle["nonconvex_fraction"] == 1.0
    assert m_saddle["toward_center_fraction"] < 0.6
    m_1d = measures.surface_measures(np.cos(3 * a).tolist(), a.tolist(), None, 1.0)
    assert m_1d["nonconvex_fraction"] > 0.5  # cos is concave around 0


def _quadratic(eigs: list[float], seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    q, _ = torch.linalg.qr(torch.randn(len(eigs), len(eigs), generator=g, dtype=torch.float64))
    a = q @ torch.diag(torch.tensor(eigs, dtype=torch.float64)) @ q.T
    theta = nn.Parameter(torch.randn(len(eigs), generator=g, dtype=torch.float64))
    return theta, lambda: [0.5 * theta @ a @ theta]


@pytest.mark.parametrize("eigs", [[-2.0, -0.5, 0.1, 1.0, 3.0, 5.0], [0.2, 0.5, 1.0, 2.0, 4.0]])
def test_hessian_ratio_on_a_quadratic_with_known_eigenvalues(eigs):
    theta, closure = _quadratic(eigs)
    c = hessian.extreme_eigenvalues([theta], closure, iters=len(eigs))
    assert c["lambda_min"] == pytest.approx(min(eigs), abs=1e-9)
    assert c["lambda_max"] == pytest.approx(max(eigs), abs=1e-9)
    assert c["ratio"] == pytest.approx(abs(min(eigs) / max(eigs)), abs=1e-9)


def test_lanczos_finds_the_extremes_in_fewer_iterations_than_dimensions():
    eigs = [-1.5, *np.linspace(0.0, 1.0, 58).tolist(), 6.0]  # isolated extremes, a dense middle
    theta, closure = _quadratic(eigs, seed=1)
    c = hessian.extreme_eigenvalues([theta], closure, iters=25)
    assert c["lambda_min"] == pytest.approx(-1.5, rel=1e-4)
    assert c["lambda_max"] == pytest.approx(6.0, rel=1e-4)


def test_hessian_of_a_network_at_the_centre_is_symmetric_and_real():
    model = build_model(TINY_RESNET, seed=0)
    x, y = _data(16)
    batches = Batches.of(x, y, 8, torch.device("cpu"))
    prepare_model(model, batches)
    params = [p for _, p in weight_params(model)]

    def closure() -> list[torch.Tensor]:
        return [F.cross_entropy(model(xb), yb) * len(xb) / 16 for xb, yb in zip(batches.xs, batches.ys, strict=True)]

    mv = hessian.flat_hvp(params, closure)
    n = sum(p.numel() for p in params)
    g = torch.Generator().manual_seed(0)
    u, v = (torch.randn(n, generator=g, dtype=torch.float64) for _ in range(2))
    assert float(u @ mv(v)) == pytest.approx(float(v @ mv(u)), rel=1e-4)  # <u, Hv> = <v, Hu>


def test_surface_with_hessian_grid_and_cancel():
    model = build_model(TINY_RESNET, seed=0)
    x, y = _data(16)
    batches = Batches.of(x, y, 16, torch.device("cpu"))
    prepare_model(model, batches)
    r = _surface(model, batches, dim=2, grid=5, hessian="grid", hessian_grid=3, hessian_iters=4)
    h = r["hessian"]
    assert len(h["ratio"]) == 3 and len(h["ratio"][0]) == 3
    assert h["center"]["lambda_max"] == pytest.approx(h["lambda_max"][1][1])
    calls = {"n": 0}

    def stop() -> bool:
        calls["n"] += 1
        return calls["n"] > 4

    before = {k: v.clone() for k, v in model.state_dict().items()}
    evs = list(compute_surface(model, F.cross_entropy, batches, LandscapeOptions(grid=5, hessian="none"),
                               should_stop=stop))
    assert evs[-1].status == "cancelled" and evs[-1].result is None
    for k, v in model.state_dict().items():
        assert torch.equal(v, before[k]), k


def test_options_name_the_problem():
    from engine.core.errors import SpecError

    with pytest.raises(SpecError, match="grid must be odd"):
        parse_options({"grid": 20})
    with pytest.raises(SpecError, match="use dim 1"):
        parse_options({"direction": "init", "dim": 2})
    with pytest.raises(SpecError, match="unknown option 'gird'"):
        parse_options({"gird": 5})


def test_autocorrelation_of_white_and_brown_noise():
    rng = np.random.default_rng(0)
    white = rng.standard_normal(4096)
    ac_w, ac_b = autocorrelation(white, 8), autocorrelation(np.cumsum(white), 8)
    assert ac_w[0] == pytest.approx(1.0) and abs(ac_w[1]) < 0.05
    assert ac_b[1] > 0.9
    assert correlation_length(ac_w) < 1.0 < correlation_length(ac_b)
    assert correlation_length(np.array([1.0, 0.5, 0.2])) == pytest.approx(1 + (0.5 - 1 / math.e) / 0.3)


def test_shatter_measures_a_spec_at_init():
    r = shatter({"family": "mlp", "input": [8], "depth": 6, "width": 16}, {"points": 32, "inits": 2, "max_lag": 4,
                                                                           "device": "cpu"})
    assert len(r["autocorr"]) == 5 and r["autocorr"][0] == pytest.approx(1.0)
    assert len(r["gradient_cosine"]) == 5 and len(r["lag1_values"]) == 2
    assert set(r["references"]) == {"white noise", "brown noise"}


def test_shatter_refuses_token_inputs():
    from engine.lab.landscape.source import LandscapeError

    with pytest.raises(LandscapeError, match="token ids"):
        shatter("transformer_tiny")


def test_bn_stays_in_eval_mode_with_its_parameters_and_statistics_as_trained_at_every_point():
    model = build_model(TINY_RESNET, seed=0)
    x, y = _data(24)
    _trained_bn(model, x)
    bns = [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
    assert bns
    trained = [{k: v.clone() for k, v in m.state_dict().items()} for m in bns]
    seen = {"calls": 0}

    def check(i: int):
        def hook(module: nn.Module, _inputs: tuple) -> None:
            assert not module.training  # eval: running statistics, not the batch's
            for k, v in module.state_dict().items():
                assert torch.equal(v, trained[i][k]), k  # scale, shift, running mean / var as trained
            seen["calls"] += 1
        return hook

    handles = [m.register_forward_pre_hook(check(i)) for i, m in enumerate(bns)]
    model.train()  # the caller's mode does not matter: the surface is measured in eval mode
    batches = Batches.of(x, y, 12, torch.device("cpu"))
    try:
        _surface(model, batches, dim=2, grid=3, span=0.5)
    finally:
        for h in handles:
            h.remove()
    assert seen["calls"] == len(bns) * 9 * 2 + len(bns) * 2  # 9 points + the centre, 2 batches each


def test_same_direction_seed_gives_the_same_surface_another_seed_a_different_one():
    model = build_model(TINY_RESNET, seed=0)
    x, y = _data(16)
    batches = Batches.of(x, y, 16, torch.device("cpu"))
    prepare_model(model, batches)
    a, b, c = (_surface(model, batches, dim=2, grid=3, seed=s) for s in (4, 4, 5))
    assert a["loss"] == b["loss"] and a["seed"] == 4
    assert a["loss"] != c["loss"]
    assert a["loss"][1][1] == c["loss"][1][1] == a["center_loss"]  # the centre does not depend on the directions


def test_progress_events_start_rise_and_finish():
    model = build_model(TINY_RESNET, seed=0)
    x, y = _data(16)
    batches = Batches.of(x, y, 16, torch.device("cpu"))
    prepare_model(model, batches)
    evs = list(compute_surface(model, F.cross_entropy, batches, LandscapeOptions(
        dim=2, grid=5, hessian="center", hessian_iters=3, device="cpu")))
    assert isinstance(evs[0], SurfaceStarted) and evs[0].points == 25 and evs[0].hessian_points == 1
    progress = [e for e in evs if isinstance(e, SurfaceProgress)]
    fractions = [e.fraction for e in progress]
    assert len(progress) >= 6 and fractions == sorted(fractions) and fractions[-1] == pytest.approx(1.0)
    assert progress[4].phase == "loss 25/25" and progress[-1].phase == "hessian 1/1"
    assert isinstance(evs[-1], SurfaceDone) and evs[-1].status == "done"


def test_the_init_line_runs_from_the_initial_to_the_final_weights():
    """alpha = -1 is the model at its initial weights, alpha = 0 the trained one, on the same batches."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(6, 8), nn.Tanh(), nn.Linear(8, 3))
    init = {k: v.clone() for k, v in model.state_dict().items()}
    x, y = _data(32, (6,), 3)
    opt = torch.optim.SGD(model.parameters(), lr=0.5)
    for _ in range(20):
        opt.zero_grad()
        F.cross_entropy(model(x), y).backward()
        opt.step()
    with torch.no_grad():
        final_loss = float(F.cross_entropy(model(x), y))
        start = nn.Sequential(nn.Linear(6, 8), nn.Tanh(), nn.Linear(8, 3))
        start.load_state_dict(init)
        init_loss = float(F.cross_entropy(start(x), y))
    batches = Batches.of(x, y, 16, torch.device("cpu"))
    evs = list(compute_surface(model, F.cross_entropy, batches, LandscapeOptions(
        dim=1, direction="init", grid=5, span=1.0, hessian="none", device="cpu"), init_state=init))
    r = evs[-1].result
    assert r["alphas"] == [-1.0, -0.5, 0.0, 0.5, 1.0] and r["init_alpha"] == -1.0
    assert r["loss"][0] == pytest.approx(init_loss, rel=1e-5)
    assert r["loss"][2] == pytest.approx(final_loss, rel=1e-5) == r["center_loss"]
    assert init_loss > final_loss


def test_the_init_line_moves_every_parameter_bn_included():
    model = build_model(TINY_RESNET, seed=0)
    init = {k: v.clone() for k, v in model.state_dict().items()}
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.1)
    d = difference(dict(model.named_parameters()), init, [n for n, _ in weight_params(model)])
    for name, _ in weight_params(model):
        torch.testing.assert_close(d[name], torch.full_like(d[name], 0.1), rtol=0, atol=1e-6)
