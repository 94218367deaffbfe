"""Every preset: counts against REFERENCE.md and the built model, shapes against a real forward pass,
and a gradient on every parameter. Parametrized over the preset registry, so new presets are covered."""

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

from engine.analysis import analyze
from engine.api import expand
from engine.arch.presets import preset_names
from engine.build import build, example_input, param_count
from tests.reference import REFERENCE

PRESETS = preset_names()


@pytest.mark.parametrize("name", sorted(REFERENCE))
def test_reference_figures(name):
    params, macs = REFERENCE[name]
    a = analyze(expand(name))
    assert a.params == params
    assert abs(a.macs - macs) / macs < 1e-3, f"{name}: {a.macs} MACs vs published {macs}"


@pytest.mark.parametrize("name", PRESETS)
def test_counts_match_built_model(name):
    """IR params == sum(p.numel()); IR MACs == FlopCounterMode's conv+addmm count / 2 (meta device)."""
    graph = expand(name)
    a = analyze(graph)
    model = build(graph, "meta")
    assert a.params == param_count(model)
    x = example_input(graph, 1, "meta")
    with FlopCounterMode(display=False) as counter:
        model(x)
    assert a.macs == counter.get_total_flops() // 2


@pytest.mark.parametrize("name", PRESETS)
def test_forward_backward_every_parameter(name):
    graph = expand(name)
    a = analyze(graph)
    model = build(graph, seed=0)
    x = example_input(graph, 2)
    out = model(x)
    assert list(out.shape[1:]) == a.output_shape
    out.float().square().mean().backward()
    missing = [n for n, p in model.named_parameters() if p.grad is None or not torch.isfinite(p.grad).all()]
    assert not missing, f"no (finite) gradient for {missing[:5]}"


@pytest.mark.parametrize("name", ["resnet20", "preact_resnet18", "resnet50"])
def test_inferred_shapes_equal_real_ones_at_every_node(name):
    graph = expand(name)
    a = analyze(graph)
    model = build(graph, "meta")
    seen: dict[str, list[int]] = {}
    hooks = [m.register_forward_hook(lambda mod, inp, out, n=n: seen.__setitem__(n, list(out.shape[1:])))
             for n, m in model.named_modules() if n and not list(m.children())]
    try:
        model(example_input(graph, 1, "meta"))
    finally:
        for h in hooks:
            h.remove()
    for row in a.nodes:
        if row.name in seen:
            assert seen[row.name] == row.out_shape, row.name
    assert len(seen) > 10


def test_state_dict_keys_are_node_names():
    graph = expand("resnet20")
    keys = build(graph, "meta").state_dict().keys()
    assert "stage2.block0.conv1.weight" in keys
    assert "head.fc.bias" in keys
    param_nodes = {k.rsplit(".", 1)[0] for k in keys}
    assert param_nodes <= set(graph.nodes)


def test_plain_twin_has_no_adds_and_same_counts():
    plain, res = analyze(expand("plain20")), analyze(expand("resnet20"))
    assert not any(n.op == "add" for n in plain.nodes)
    assert sum(n.op == "add" for n in res.nodes) == 9
    assert (plain.params, plain.macs) == (res.params, res.macs)
    assert [n.name for n in plain.nodes if n.kind == "conv"] == [n.name for n in res.nodes if n.kind == "conv"]


def test_parameters_are_listed_in_depth_order():
    """Layer order for gradient statistics and seeded init follows the graph, input first."""
    names = [n.rsplit(".", 1)[0] for n, _ in build(expand("resnet20"), "meta").named_parameters()]
    order = [n for n in expand("resnet20").topo_order() if n in set(names)]
    assert list(dict.fromkeys(names)) == order
    assert names[0] == "stem.conv" and names[-1] == "head.fc"
