"""The IR and op registry: shape errors name the node, the graph family, custom resnet specs."""

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch.utils.flop_counter import FlopCounterMode

from engine.analysis import analyze
from engine.api import expand
from engine.arch import parse
from engine.build import build, example_input, param_count
from engine.core.errors import ShapeError, SpecError
from engine.ir.graph import Graph, infer_shapes


def graph_spec(nodes, input_shape=(3, 8, 8), **extra):
    return parse({"family": "graph", "input": list(input_shape), "nodes": nodes, **extra})


def test_add_mismatch_names_node_both_shapes_and_fix():
    g = Graph((3, 8, 8))
    g.add("a", "conv2d", "input", out_channels=4)
    g.add("b", "conv2d", "input", out_channels=8, stride=2)
    g.add("stage2.block0.add", "add", ["a", "b"], {"input_labels": ["residual branch", "shortcut"],
                                                    "hint": "use shortcut B or C"})
    with pytest.raises(ShapeError) as info:
        infer_shapes(g)
    err = info.value
    assert err.node == "stage2.block0.add"
    assert str(err) == ("stage2.block0.add: cannot add [4, 8, 8] (residual branch) to [8, 4, 4] (shortcut); "
                        "use shortcut B or C")


def test_strided_stages_on_a_tiny_map_run_as_in_pytorch():
    """PyTorch's formula: a k3 s4 p1 conv keeps a 2x2 (and a 1x1) map at 1x1, so this net is valid and runs."""
    spec = parse({"family": "resnet", "input": [3, 8, 8],
                  "stages": [{"blocks": 1, "width": 8}, {"blocks": 1, "width": 16, "stride": 4},
                             {"blocks": 1, "width": 32, "stride": 4}]})
    a = analyze(expand(spec))
    assert a.node("stage3.block0.conv1").out_shape == [32, 1, 1]
    _param_and_mac_check(spec)


def test_a_map_too_small_for_pytorch_names_the_node():
    spec = graph_spec([{"name": "body.conv", "op": "conv2d", "out_channels": 4, "kernel": 5, "padding": 0}],
                      input_shape=(3, 4, 4))
    with pytest.raises(ShapeError) as info:
        expand(spec)
    assert info.value.node == "body.conv"
    assert str(info.value) == ("body.conv: the 4x4 map's height of 4 is too small for kernel 5 (dilation 1) with "
                               "padding 0: PyTorch's output size would be 0; use a larger input, fewer stride-2 "
                               "stages or more padding")


def test_zero_pad_shortcut_cannot_reduce_channels():
    spec = parse({"family": "resnet", "stages": [{"blocks": 1, "width": 32}, {"blocks": 1, "width": 16}]})
    with pytest.raises(ShapeError, match=r"stage2.block0.shortcut: .*reduce channels from 32 to 16; use shortcut B"):
        expand(spec)
    expand(parse({**spec.model_dump(), "shortcut": "B"}))  # the suggested fix works


def test_graph_family_by_hand_and_errors():
    spec = graph_spec([
        {"name": "conv", "op": "conv2d", "out_channels": 4},
        {"name": "bn", "op": "batchnorm2d", "in": "conv"},
        {"name": "act", "op": "relu", "in": "bn"},
        {"name": "skip", "op": "add", "in": ["act", "conv"]},
        {"name": "pool", "op": "global_avgpool", "in": "skip"},
        {"name": "flat", "op": "flatten", "in": "pool"},
        {"name": "fc", "op": "linear", "in": "flat", "out_features": 5},
    ])
    model = build(expand(spec), seed=0)
    assert model(torch.randn(2, 3, 8, 8)).shape == (2, 5)
    assert "act + conv" in model.code  # the skip is visible in the generated forward
    with pytest.raises(SpecError, match=r"nodes\[0\].kernal"):
        expand(graph_spec([{"name": "conv", "op": "conv2d", "out_channels": 4, "kernal": 3}]))
    with pytest.raises(SpecError, match=r"nodes\[0\].out_channels"):
        expand(graph_spec([{"name": "conv", "op": "conv2d"}]))
    with pytest.raises(SpecError, match="unknown op 'conv3d'; valid: .*conv2d"):
        expand(graph_spec([{"name": "conv", "op": "conv3d"}]))
    with pytest.raises(ShapeError, match="'nope' is not a node"):
        expand(graph_spec([{"name": "conv", "op": "relu", "in": "nope"}]))
    with pytest.raises(ShapeError, match="cycle"):
        expand(graph_spec([{"name": "a", "op": "relu", "in": "b"}, {"name": "b", "op": "relu", "in": "a"}]))
    with pytest.raises(SpecError, match="reserved"):
        expand(graph_spec([{"name": "forward", "op": "relu"}]))
    with pytest.raises(SpecError, match="already exists"):
        expand(graph_spec([{"name": "a", "op": "relu"}, {"name": "a", "op": "relu"}]))
    with pytest.raises(ShapeError, match="takes at least 2 input"):
        expand(graph_spec([{"name": "a", "op": "add"}]))


def _param_and_mac_check(spec) -> None:
    graph = expand(spec)
    a = analyze(graph)
    meta_model = build(graph, "meta").eval()  # eval: BN needs no batch statistics on a 1x1 map at batch 1
    assert a.params == param_count(meta_model)
    with FlopCounterMode(display=False) as counter:
        meta_model(example_input(graph, 1, "meta"))
    assert a.macs == counter.get_total_flops() // 2
    model = build(graph, seed=0)
    out = model(example_input(graph, 2))
    assert list(out.shape[1:]) == a.output_shape
    out.sum().backward()
    assert all(p.grad is not None for p in model.parameters())


@settings(max_examples=40, deadline=None)
@given(
    stages=st.lists(st.tuples(st.integers(1, 2), st.integers(1, 12), st.sampled_from([None, 1, 2])),
                    min_size=1, max_size=3),
    block=st.sampled_from(["basic", "bottleneck"]),
    shortcut=st.sampled_from(["A", "B", "C", "none"]),
    preact=st.booleans(),
    norm=st.sampled_from(["batch", "none"]),
    stem=st.sampled_from(["cifar", "imagenet"]),
    channels=st.integers(1, 4),
    size=st.integers(8, 20),
    classes=st.integers(2, 7),
    zero_init=st.booleans(),
)
def test_custom_resnets_build_and_count_like_the_ir(stages, block, shortcut, preact, norm, stem, channels, size,
                                                    classes, zero_init):
    data = {"family": "resnet", "input": [channels, size, size], "num_classes": classes, "block": block,
            "shortcut": shortcut, "preact": preact, "norm": norm, "stem": stem, "zero_init_residual": zero_init,
            "stages": [{"blocks": b, "width": w, **({"stride": s} if s else {})} for b, w, s in stages]}
    try:
        spec = parse(data)
        expand(spec)
    except (SpecError, ShapeError) as exc:
        assert str(exc).split(":")[0]  # names a field or node
        return
    _param_and_mac_check(spec)


def test_zero_init_residual_zeroes_last_bn_gamma():
    spec = parse({"family": "resnet", "zero_init_residual": True, "stages": [{"blocks": 2, "width": 8}]})
    model = build(expand(spec), seed=0)
    assert float(model.get_submodule("stage1.block1.bn2").weight.detach().abs().sum()) == 0.0
    assert float(model.get_submodule("stage1.block1.bn1").weight.detach().abs().sum()) > 0.0


def test_meta_build_allocates_nothing_and_auto_device_runs():
    model = build(expand("resnet152"), "meta")
    assert all(p.device.type == "meta" for p in model.parameters())
    small = build(expand("resnet8"), "auto", seed=0)
    assert next(small.parameters()).device.type in ("cpu", "cuda", "mps")
