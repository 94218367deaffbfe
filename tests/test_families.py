"""DenseNet, U-Net, MLP and transformer families: published figures, counts against real models,
random configurations that build and train, and the vanishing-gradient presets."""

from __future__ import annotations

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.analysis import analyze
from engine.api import build_model, expand, summarize
from engine.arch import get_preset, loads, parse
from engine.arch.presets import PRESETS, preset_names
from engine.core.errors import ShapeError, SpecError
from engine.ir.graph import infer_shapes
from engine.spec import dumps, to_dict
from tests.fam_helpers import forward_backward, meta_counts, one_thread  # noqa: F401 (autouse fixture)

FAMILY_PRESETS = [n for n in preset_names() if PRESETS[n]["family"] in ("densenet", "unet", "mlp", "transformer")]
SMALL_PRESETS = ["densenet_bc_100", "unet_small", "plain_mlp50", "residual_mlp50", "highway_mlp50",
                 "transformer_tiny"]

# REFERENCE.md and torchvision's published figures (params exact; MACs of conv + linear at batch 1).
REFERENCE = {
    "densenet121": (7_978_856, 2.8342e9),
    "densenet169": (14_149_480, None),
    "densenet201": (20_013_928, None),
    "densenet161": (28_681_000, None),
    "densenet_bc_100": (769_162, None),
    "unet": (31_043_521, 12.04e9),
}
MAC_TOLERANCE = {"densenet121": 1e-3, "unet": 5e-4}  # 2.8342 G to 0.1 %; 12.04 G is given to 4 digits


def test_every_family_preset_is_listed() -> None:
    assert set(REFERENCE) | set(SMALL_PRESETS) | {"unet_small"} <= set(FAMILY_PRESETS)


@pytest.mark.parametrize("name", FAMILY_PRESETS)
def test_preset_counts_match_the_built_model(name: str) -> None:
    """IR params == sum(p.numel()) and IR MACs == FlopCounterMode on the meta device, for every preset."""
    g = expand(name)
    a = analyze(g)
    params, macs = meta_counts(g)
    assert a.params == params
    assert a.macs == macs
    if name in REFERENCE:
        want_params, want_macs = REFERENCE[name]
        assert a.params == want_params
        if want_macs is not None:
            assert abs(a.macs - want_macs) / want_macs < MAC_TOLERANCE[name]


@pytest.mark.parametrize("name", FAMILY_PRESETS)
def test_preset_spec_round_trips(name: str) -> None:
    spec = get_preset(name)
    assert loads(dumps(spec)) == spec
    assert loads(dumps(spec, "json"), "json") == spec


@pytest.mark.parametrize("name", SMALL_PRESETS)
def test_small_presets_train_a_step(name: str) -> None:
    g = expand(name)
    shapes, _ = forward_backward(g)
    assert shapes == {k: v for k, v in infer_shapes(g).items() if k != "input"}


def test_imagenet_densenet_layout_trains_at_small_input() -> None:
    """The ImageNet layout (7x7/2 stem, max-pool, three transitions) trains at 32x32, not only counts."""
    g = expand(parse({**to_dict(get_preset("densenet121")), "input": [3, 32, 32],
                      "block_config": [1, 1, 1, 1], "num_classes": 3}))
    shapes, _ = forward_backward(g)
    assert shapes["head.fc"] == (3,)


# ---- block formulas ------------------------------------------------------------------------------------


@pytest.mark.parametrize("d", [8, 32, 64])
def test_transformer_block_has_12d2_plus_13d_params(d: int) -> None:
    a = summarize({"family": "transformer", "d_model": d, "heads": 4, "depth": 3})
    blocks = [g for g in a.groups if g.level == 1 and g.name.startswith("block")]
    assert len(blocks) == 3
    assert all(b.params == 12 * d * d + 13 * d for b in blocks)


@pytest.mark.parametrize("d", [8, 64])
def test_highway_layer_has_2_d2_plus_d_params(d: int) -> None:
    a = summarize({"family": "mlp", "input": [d], "width": d, "depth": 4, "connection": "highway"})
    layer = next(g for g in a.groups if g.name == "layer1")
    assert layer.params == 2 * (d * d + d)


def test_attention_macs_count_the_two_matmuls() -> None:
    seq, d = 10, 16
    a = summarize({"family": "transformer", "input": [seq], "d_model": d, "heads": 2, "depth": 1})
    assert a.node("block0.attn.attend").macs == 2 * seq * seq * d
    assert a.node("block0.attn.qkv").macs == seq * d * 3 * d


def test_dense_mlp_concatenates() -> None:
    a = summarize({"family": "mlp", "input": [5], "width": 4, "depth": 5, "connection": "dense"})
    assert a.node("layer3.concat").out_shape == [4 * 4]
    assert a.node("head.fc").params == 16 * 10 + 10


def test_unet_output_keeps_the_input_size_in_every_mode() -> None:
    for up in ("transpose", "bilinear"):
        for merge in ("concat", "add", "none"):
            a = summarize({"family": "unet", "input": [2, 16, 24], "widths": [4, 8, 8], "out_channels": 3,
                           "up": up, "merge": merge})
            assert a.output_shape == [3, 16, 24]


# ---- errors --------------------------------------------------------------------------------------------


def test_unet_input_not_divisible_names_the_level() -> None:
    with pytest.raises(ShapeError) as err:
        summarize("unet", input_shape=[3, 100, 100])
    assert err.value.node == "enc4.pool"
    assert "enc4" in str(err.value) and "16" in str(err.value)


@pytest.mark.parametrize("data, path", [
    ({"family": "transformer", "input": [8, 4], "vocab": 10}, "vocab"),
    ({"family": "transformer", "d_model": 10, "heads": 4}, "heads"),
    ({"family": "transformer", "input": [2, 3, 4]}, "input"),
    ({"family": "unet", "input": [1, 32, 32], "in_channels": 3}, "in_channels"),
    ({"family": "mlp", "depth": 1}, "depth"),
    ({"family": "mlp", "connection": "skip"}, "connection"),
    ({"family": "densenet", "compression": 1.5}, "compression"),
    ({"family": "densenet", "bn_size": -1}, "bn_size"),
    ({"family": "densenet", "input": [32, 32]}, "input"),
    ({"family": "densenet", "growth": 12}, "growth"),
])
def test_bad_specs_name_the_field(data: dict, path: str) -> None:
    with pytest.raises(SpecError) as err:
        parse(data)
    assert err.value.path == path


def test_transformer_vocab_defaults_for_tokens_only() -> None:
    assert parse({"family": "transformer"}).vocab == 16
    assert parse({"family": "transformer", "input": [8, 3]}).vocab is None
    g = expand({"family": "transformer", "input": [8], "vocab": 7})
    assert g.input_kind == "tokens" and g.nodes["input"].meta["vocab"] == 7


def test_mlp_flattens_images() -> None:
    a = summarize({"family": "mlp", "input": [1, 8, 8], "depth": 3})
    assert a.node("stem.flatten").out_shape == [64]


# ---- the vanishing-gradient experiment (depth 50, default init, no norm) ---------------------------------


def first_last_ratio(name: str) -> float:
    """||grad of the first layer's weight|| / ||grad of the last layer's weight|| at init."""
    model = build_model(name, seed=0)
    gen = torch.Generator().manual_seed(0)
    x, y = torch.randn(32, 64, generator=gen), torch.randint(0, 10, (32,), generator=gen)
    torch.nn.functional.cross_entropy(model(x), y).backward()
    params = dict(model.named_parameters())
    return float(params["stem.fc.weight"].grad.norm() / params["head.fc.weight"].grad.norm())


def test_plain_mlp50_gradient_vanishes_and_skips_carry_it() -> None:
    assert first_last_ratio("plain_mlp50") < 1e-6
    assert first_last_ratio("residual_mlp50") > 1e-3
    assert first_last_ratio("highway_mlp50") > 1e-3


# ---- random configurations (hypothesis) -----------------------------------------------------------------

FAST = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def check_config(data: dict) -> None:
    """Builds, trains a step with a gradient on every parameter, real shapes == inferred, counts == real."""
    g = expand(parse(data))
    shapes, model = forward_backward(g)
    assert shapes == {k: v for k, v in infer_shapes(g).items() if k != "input"}
    a = analyze(g)
    params, macs = meta_counts(g)
    assert a.params == params == sum(p.numel() for p in model.parameters())
    assert a.macs == macs


@st.composite
def densenet_configs(draw: st.DrawFn) -> dict:
    stem = draw(st.sampled_from(["cifar", "imagenet"]))
    blocks = draw(st.lists(st.integers(1, 3), min_size=1, max_size=3))
    base = (4 if stem == "imagenet" else 1) * 2 ** (len(blocks) - 1)
    size = base + draw(st.integers(0, 5))
    return {"family": "densenet", "input": [draw(st.integers(1, 3)), size, size + draw(st.integers(0, 2))],
            "num_classes": draw(st.integers(1, 5)), "growth_rate": draw(st.integers(1, 6)), "block_config": blocks,
            "num_init_features": draw(st.integers(1, 8)), "bn_size": draw(st.integers(0, 2)),
            "compression": draw(st.sampled_from([0.3, 0.5, 1.0])), "stem": stem}


@st.composite
def unet_configs(draw: st.DrawFn) -> dict:
    widths = draw(st.lists(st.integers(1, 6), min_size=2, max_size=4))
    m = 2 ** (len(widths) - 1)
    return {"family": "unet", "input": [draw(st.integers(1, 3)), m * draw(st.integers(1, 3)),
                                        m * draw(st.integers(1, 3))],
            "out_channels": draw(st.integers(1, 3)), "widths": widths,
            "up": draw(st.sampled_from(["transpose", "bilinear"])),
            "merge": draw(st.sampled_from(["concat", "add", "none"]))}


@st.composite
def mlp_configs(draw: st.DrawFn) -> dict:
    image = draw(st.booleans())
    shape = [1, draw(st.integers(1, 4)), draw(st.integers(1, 4))] if image else [draw(st.integers(1, 10))]
    return {"family": "mlp", "input": shape, "num_classes": draw(st.integers(1, 5)), "depth": draw(st.integers(2, 6)),
            "width": draw(st.integers(1, 8)),
            "connection": draw(st.sampled_from(["none", "residual", "highway", "dense"])),
            "activation": draw(st.sampled_from(["relu", "tanh", "sigmoid", "gelu"])),
            "norm": draw(st.sampled_from(["none", "batch", "layer"])),
            "init": draw(st.sampled_from(["default", "he", "xavier"])),
            "gate_bias": draw(st.sampled_from([-2.0, -1, 0.5]))}


@st.composite
def transformer_configs(draw: st.DrawFn) -> dict:
    heads = draw(st.integers(1, 3))
    seq = draw(st.integers(1, 6))
    tokens = draw(st.booleans())
    data = {"family": "transformer", "input": [seq] if tokens else [seq, draw(st.integers(1, 5))],
            "num_classes": draw(st.integers(1, 4)), "d_model": heads * draw(st.integers(1, 4)), "heads": heads,
            "depth": draw(st.integers(1, 2)), "norm": draw(st.sampled_from(["pre", "post", "none"])),
            "residual": draw(st.booleans()), "pos_embedding": draw(st.booleans())}
    if tokens:
        data["vocab"] = draw(st.integers(1, 9))
    if draw(st.booleans()):
        data["ffn"] = draw(st.integers(1, 8))
    return data


@FAST
@given(densenet_configs())
def test_random_densenets(data: dict) -> None:
    check_config(data)


@FAST
@given(unet_configs())
def test_random_unets(data: dict) -> None:
    check_config(data)


@FAST
@given(mlp_configs())
def test_random_mlps(data: dict) -> None:
    check_config(data)


@FAST
@given(transformer_configs())
def test_random_transformers(data: dict) -> None:
    check_config(data)


SMALL_INPUT = {"densenet": [3, 32, 32], "unet": [3, 16, 16]}


@pytest.mark.parametrize("name", [n for n in FAMILY_PRESETS if n not in SMALL_PRESETS])
def test_big_presets_train_a_step_at_a_small_input(name: str) -> None:
    """Every preset trains, not only counts: the big ones at a small input (the layers are the same)."""
    spec = get_preset(name)
    g = expand(parse({**to_dict(spec), "input": SMALL_INPUT[spec.family]}))
    shapes, _ = forward_backward(g)
    assert shapes == {k: v for k, v in infer_shapes(g).items() if k != "input"}
