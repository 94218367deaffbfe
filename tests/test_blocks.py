"""Block costs: the closed forms (18C², 17/16 C², C²) against real modules built by our builder."""

import pytest
import torch
from torch import nn

from engine.analysis.blocks import block_costs, block_graph
from engine.arch import expand
from engine.arch.blocks import BLOCKS
from engine.build import build, param_count
from engine.core.errors import SpecError


def test_reference_figures_at_256():
    basic = block_costs("basic", 256, 14, 14, with_bn=False)
    bottleneck = block_costs("bottleneck", 256, 14, 14, with_bn=False)
    assert basic.block.conv_weights == 1_179_648
    assert bottleneck.block.conv_weights == 69_632
    assert round(basic.block.conv_weights / bottleneck.block.conv_weights, 2) == 16.94
    assert basic.ratio == pytest.approx(288 / 17) and "288/17" in basic.ratio_formula
    assert basic.block.weights_formula == "18C²" and bottleneck.block.weights_formula == "17/16 C²"
    assert basic.projection.weights_formula == "C²" and basic.projection.conv_weights == 256 * 256


@pytest.mark.parametrize("c", [16, 64, 128, 256])
@pytest.mark.parametrize("with_bn", [True, False])
def test_formulas_against_built_modules(c, with_bn):
    h = w = 7
    for kind, weights, per_c in (("basic", 18 * c * c, 4 if with_bn else 2),
                                 ("bottleneck", 17 * c * c // 16, 3 if with_bn else 1.5),
                                 ("projection", c * c, 2 if with_bn else 1)):
        model = build(block_graph(kind, c, h, w, with_bn), seed=0)
        convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
        assert sum(m.weight.numel() for m in convs) == weights
        assert param_count(model) == weights + per_c * c
        part = block_costs("basic" if kind == "projection" else kind, c, h, w, with_bn)
        part = part.projection if kind == "projection" else part.block
        assert part.conv_weights == weights and part.params == param_count(model)
        assert part.macs == weights * h * w  # stride 1: every weight once per output position
        assert part.flops > 2 * part.macs  # plus BN / bias, ReLU and the residual add


def test_bad_arguments():
    with pytest.raises(SpecError, match="kind"):
        block_costs("dense", 64, 8, 8)
    with pytest.raises(SpecError, match="divisible by 4"):
        block_costs("bottleneck", 66, 8, 8)
    with pytest.raises(SpecError, match="height"):
        block_costs("basic", 64, 0, 8)


@pytest.mark.parametrize("name", BLOCKS.names())
@pytest.mark.parametrize("with_bn", [True, False])
def test_every_registered_block_matches_its_closed_form(name, with_bn):
    """Adding a block is one register_block call: this test builds it and checks its closed-form cost."""
    c, h, w = 64, 5, 5
    block = BLOCKS.get(name)
    model = build(block_graph(name, c, h, w, with_bn), seed=0)
    conv_weights = sum(m.weight.numel() for m in model.modules() if isinstance(m, nn.Conv2d))
    assert conv_weights == block.conv_weights * c * c
    assert param_count(model) == conv_weights + (block.norm_params if with_bn else block.bias_params) * c
    out = model(torch.randn(2, c, h, w))
    assert out.shape == (2, c, h, w)


def test_the_resnet_family_builds_from_the_registry():
    # resnet20's blocks are the registry's basic blocks: same nodes as block_graph's, under the block's name
    graph = expand("resnet20")
    names = {n.name.removeprefix("stage1.block1.") for n in graph.nodes.values() if n.block == "stage1.block1"}
    ref = {n.name.removeprefix("block.") for n in block_graph("basic", 16, 32, 32).nodes.values() if n.block}
    assert names == ref


def test_unknown_block_lists_the_registry():
    with pytest.raises(SpecError, match="preact_bottleneck"):
        block_costs("dense", 64, 8, 8)
