"""PyTorch's own output-size formulas (engine/ir/ops/formulas.py) against PyTorch, on random conv, transposed
conv, pool and shortcut configurations (hypothesis): the shape rule refuses exactly what PyTorch refuses and
otherwise gives PyTorch's shape. Issue 15: a 1x1 map through k3 s2 p1 stays 1x1, so resnet18 at 3x16x16
counts, builds and runs; densenet121 at 3x16x16 is truly refused."""

from __future__ import annotations

from typing import Any

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch.utils.flop_counter import FlopCounterMode

from engine.core.errors import ShapeError
from engine.ir.ops import get_op, validate_args


@pytest.fixture(autouse=True)
def _one_thread(one_torch_thread: None) -> None:
    """Tiny tensors: one intra-op thread (other test processes share the cores)."""


def _agree(op: str, shape: tuple[int, ...], args: dict[str, Any]) -> None:
    """Our shape rule refuses exactly what PyTorch refuses, and otherwise gives PyTorch's shape."""
    d = get_op(op)
    a = validate_args(d, args, "node")
    try:
        ours: tuple[int, ...] | None = tuple(d.shape("node", [shape], a, {}))
    except ShapeError as exc:
        assert exc.node == "node"
        ours = None
    try:
        theirs: tuple[int, ...] | None = tuple(d.module([shape], a)(torch.zeros(1, *shape)).shape[1:])
    except (RuntimeError, ValueError):  # refused by the constructor or by the forward
        theirs = None
    if theirs is not None and 0 in theirs:
        # The one deliberate difference: a transposed conv may return an empty map where PyTorch does not
        # raise; a model with an empty tensor inside is refused (nothing downstream could use it).
        theirs = None
    assert ours == theirs, f"{op} {args} on {shape}: ours {ours}, PyTorch {theirs}"


SIZES = st.tuples(st.integers(1, 4), st.integers(1, 12), st.integers(1, 12))


@settings(max_examples=150, deadline=None)
@given(shape=SIZES, kernel=st.integers(1, 5), stride=st.integers(1, 4), padding=st.integers(0, 3),
       dilation=st.integers(1, 3), groups=st.sampled_from([1, 2]), out=st.integers(1, 4))
def test_conv_shape_rule_equals_pytorch(shape: tuple[int, int, int], kernel: int, stride: int, padding: int,
                                        dilation: int, groups: int, out: int) -> None:
    _agree("conv2d", shape, {"out_channels": out * groups, "kernel": kernel, "stride": stride,
                             "padding": padding, "dilation": dilation, "groups": groups})


@settings(max_examples=150, deadline=None)
@given(shape=SIZES, kernel=st.integers(1, 5), stride=st.integers(1, 4), padding=st.integers(0, 3),
       output_padding=st.integers(0, 3))
def test_conv_transpose_shape_rule_equals_pytorch(shape: tuple[int, int, int], kernel: int, stride: int,
                                                  padding: int, output_padding: int) -> None:
    _agree("conv_transpose2d", shape, {"out_channels": 2, "kernel": kernel, "stride": stride, "padding": padding,
                                       "output_padding": output_padding})


@settings(max_examples=200, deadline=None)
@given(op=st.sampled_from(["maxpool2d", "avgpool2d"]), shape=SIZES, kernel=st.integers(1, 5),
       stride=st.none() | st.integers(1, 4), padding=st.integers(0, 3), ceil_mode=st.booleans())
def test_pool_shape_rule_equals_pytorch(op: str, shape: tuple[int, int, int], kernel: int, stride: int | None,
                                        padding: int, ceil_mode: bool) -> None:
    _agree(op, shape, {"kernel": kernel, "stride": stride, "padding": padding, "ceil_mode": ceil_mode})


@settings(max_examples=60, deadline=None)
@given(shape=SIZES, stride=st.integers(1, 4), extra=st.integers(0, 3))
def test_shortcut_shape_rules_equal_pytorch(shape: tuple[int, int, int], stride: int, extra: int) -> None:
    _agree("zeropad_shortcut", shape, {"out_channels": shape[0] + extra, "stride": stride})
    _agree("pool_pad", shape, {"out_channels": shape[0] + extra, "stride": stride})


def test_the_issues_example_a_1x1_map_through_k3_s2_p1_stays_1x1() -> None:
    d = get_op("conv2d")
    args = validate_args(d, {"out_channels": 4, "kernel": 3, "stride": 2, "padding": 1}, "node")
    assert d.shape("node", [(2, 1, 1)], args, {}) == (4, 1, 1)


def test_resnet18_at_16x16_counts_builds_and_runs_forward() -> None:
    """The input the README used to show refused: PyTorch runs it, so do we (every stage ends 1x1)."""
    from engine.api import build_model, load_spec, summarize, to_dict

    a = summarize("resnet18", input_shape=[3, 16, 16])
    assert a.output_shape == [1000] and a.params == 11_689_512  # the parameters do not depend on the input
    assert a.node("stage4.block0.conv1").out_shape == [512, 1, 1]
    model = build_model(to_dict(load_spec("resnet18", input_shape=[3, 16, 16])), seed=0).eval()
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        assert model(torch.randn(1, 3, 16, 16)).shape == (1, 1000)
    assert counter.get_total_flops() == 2 * a.macs


def test_a_map_pytorch_refuses_is_refused_naming_the_node() -> None:
    """densenet121 at 16x16: the third transition's 2x2 average pool meets a 1x1 map (PyTorch: "Output
    size is too small")."""
    from engine.api import summarize

    with pytest.raises(ShapeError, match="too small") as info:
        summarize("densenet121", input_shape=[3, 16, 16])
    assert info.value.node == "transition3.pool"
