"""Every registered op, every part of its definition, checked against PyTorch (DESIGN.md "One definition per
concept"): the shape rule against a real forward, params against the module, MACs against FlopCounterMode,
the backward products against FlopCounterMode on forward + backward, saved bytes against
saved_tensors_hooks, the emitter's text against the factory's module, the cross-check explained on a tiny
graph, kind and colour. A part left out of a definition fails here (`test_every_op_defines_every_part`).

Also: the registry's errors and scratch copies, the generic training-cost fallbacks, colours, the torch-free
start. PyTorch's output-size formulas are checked in tests/test_shape_formulas.py.
"""

from __future__ import annotations

import functools
import math
import operator
import re
from typing import Any

import pytest
import torch
from torch import nn
from torch.nn import functional as F  # noqa: N812
from torch.utils.flop_counter import FlopCounterMode

from engine.analysis.crosscheck import crosscheck
from engine.analysis.toolrules import cost_of
from engine.core.errors import RegistryError
from engine.export.emitters import module_config, resolve_helper
from engine.ir.graph import INPUT, Graph
from engine.ir.ops import (
    KINDS,
    OPS,
    Arg,
    Example,
    OpDef,
    backward_of,
    get_op,
    numel,
    saved_of,
    validate_args,
)
from engine.ir.reserved import RESERVED
from tests.op_helpers import ScratchOps

BATCH = 2
NAMES = [n for n in OPS if n != INPUT]
CASES = [pytest.param(name, ex, id=f"{name}-{i}") for name in NAMES for i, ex in enumerate(OPS[name].examples)]


@pytest.fixture(autouse=True)
def _one_thread(one_torch_thread: None) -> None:
    """Tiny tensors: one intra-op thread (other test processes share the cores)."""


def missing_parts(op: OpDef) -> list[str]:
    """The parts a built-in op must define, that `op` leaves out."""
    missing = []
    if op.name == INPUT:
        return missing
    if not op.examples:
        missing.append("examples (inputs the registry tests run it on)")
    if op.module is None and op.function is None:
        missing.append("module factory or function")
    for part in ("backward", "saved", "emitter"):
        if getattr(op, part) is None:
            missing.append(part)
    if not op.doc:
        missing.append("doc")
    return missing


@pytest.mark.parametrize("name", list(OPS))
def test_every_op_defines_every_part(name: str) -> None:
    op = OPS[name]
    assert not missing_parts(op), f"op {name!r} ({OPS.where(name)}) does not define: {', '.join(missing_parts(op))}"
    kind = KINDS[op.kind]
    assert re.fullmatch(r"#[0-9a-f]{6}", kind.colour) and kind.doc, f"kind {op.kind!r} needs a colour and a doc"
    if op.function is not None:
        assert callable(op.callable())
    for example in op.examples:  # examples are valid inputs, and the op takes as many as it says
        assert op.min_inputs <= len(example.ins) <= (op.max_inputs or math.inf)
        validate_args(op, example.args, name)


def test_a_missing_part_is_reported() -> None:
    bare = OpDef("bare", "act", lambda node, ins, a, m: ins[0], module=lambda ins, a: nn.Identity())
    assert missing_parts(bare) == ["examples (inputs the registry tests run it on)", "backward", "saved",
                                   "emitter", "doc"]


# ---- the parts against PyTorch --------------------------------------------------------------------------


def _inputs(ex: Example, grad: bool = False) -> list[torch.Tensor]:
    if ex.vocab:
        return [torch.randint(0, ex.vocab, (BATCH, *s)) for s in ex.ins]
    return [torch.randn(BATCH, *s, requires_grad=grad) for s in ex.ins]


def _runner(op: OpDef, ex: Example, args: dict[str, Any]) -> nn.Module:
    """The op as a module: its factory's, or its function wrapped."""
    if op.module is not None:
        return op.module(list(ex.ins), args)

    class Function(nn.Module):
        def forward(self, *xs: torch.Tensor) -> torch.Tensor:
            return _apply(op, xs)

    return Function()


def _apply(op: OpDef, xs: Any) -> torch.Tensor:
    fn = op.callable()
    return functools.reduce(fn, xs) if fn is operator.add else fn(*xs)  # engine.build chains n-ary adds


def _case(name: str, ex: Example) -> tuple[OpDef, dict[str, Any], tuple[int, ...]]:
    op = get_op(name)
    args = validate_args(op, ex.args, "node")
    return op, args, tuple(op.shape("node", list(ex.ins), args, {}))


@pytest.mark.parametrize("name, ex", CASES)
def test_shape_params_and_macs_equal_pytorch(name: str, ex: Example) -> None:
    op, args, out = _case(name, ex)
    module = _runner(op, ex, args).eval()
    with FlopCounterMode(display=False) as counter:
        y = module(*_inputs(ex))
    assert tuple(y.shape[1:]) == out, "shape rule"
    assert sum(p.numel() for p in module.parameters()) == op.params(list(ex.ins), args), "params rule"
    assert counter.get_total_flops() == 2 * BATCH * op.macs(list(ex.ins), out, args), "MACs rule"


@pytest.mark.parametrize("name, ex", CASES)
def test_backward_products_equal_flop_counter(name: str, ex: Example) -> None:
    """FlopCounterMode counts the backward's products (conv / mm / bmm) only: the rule's input and weight
    MACs, plus what the op's flop_counter rule says it over-counts."""
    op, args, out = _case(name, ex)
    module = _runner(op, ex, args).train()
    xs = _inputs(ex, grad=True)
    with FlopCounterMode(display=False) as counter:
        y = module(*xs)
        forward = counter.get_total_flops()
        if y.requires_grad:
            y.sum().backward()
    b = backward_of(op, list(ex.ins), out, args)
    input_grad = any(x.requires_grad for x in xs)
    want = 2 * BATCH * (b.weight_macs + (b.input_macs if input_grad else 0))
    if op.flop_counter is not None:
        c = cost_of_example(op, ex, args, out)
        want += BATCH * sum(p.value for p in op.flop_counter(c))
    assert counter.get_total_flops() - forward == want


def cost_of_example(op: OpDef, ex: Example, args: dict[str, Any], out: tuple[int, ...]):  # noqa: ANN201
    from engine.ir.ops import Cost

    ins = list(ex.ins)
    return Cost(op.name, ins, out, args, op.params(ins, args), op.macs(ins, out, args))


@pytest.mark.parametrize("name, ex", CASES)
def test_saved_bytes_equal_saved_tensors_hooks(name: str, ex: Example) -> None:
    """What autograd keeps (each storage once, parameters and buffers excluded) = the saved rule, in
    training mode on the CPU."""
    op, args, out = _case(name, ex)
    module = _runner(op, ex, args).train()
    xs = _inputs(ex, grad=True)
    state = {t.untyped_storage().data_ptr() for t in [*module.parameters(), *module.buffers()]}
    seen: dict[int, int] = {}

    def pack(t: torch.Tensor) -> torch.Tensor:
        if t.untyped_storage().data_ptr() not in state:
            seen[t.untyped_storage().data_ptr()] = t.untyped_storage().nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        y = module(*xs)
    sv = saved_of(op, list(ex.ins), out, args)
    named = {xs[i].untyped_storage().data_ptr(): xs[i].untyped_storage().nbytes() for i in sv.inputs}
    if sv.output:
        named[y.untyped_storage().data_ptr()] = y.untyped_storage().nbytes()
    assert set(named) <= set(seen), "the rule names an input or the output autograd does not keep"
    assert sum(seen.values()) == sum(named.values()) + (sv.extra * 4 + sv.extra_bytes) * BATCH + sv.fixed_bytes


_NAMESPACE = {"torch": torch, "nn": nn, "F": F, "math": math}


@pytest.mark.parametrize("name, ex", CASES)
def test_emitter_writes_the_factorys_module(name: str, ex: Example) -> None:
    """The exported text builds the same layer as the factory (class, public attributes, parameter shapes);
    a module-less op's call text computes what its function computes."""
    op, args, out = _case(name, ex)
    emitter = op.emitter
    assert emitter is not None
    namespace = dict(_NAMESPACE)
    for h in emitter.helpers:
        obj = resolve_helper(h)
        namespace[obj.__name__] = obj
    if op.module is not None:
        assert emitter.module is not None
        with torch.device("meta"):
            written = eval(emitter.module(list(ex.ins), args), namespace)  # noqa: S307 - our emitter's text
            built = op.module(list(ex.ins), args)
        assert type(written) is type(built) and module_config(written) == module_config(built)
        assert emitter.call_text("self.m", ["x"], args) == "self.m(x)"
    else:
        xs = _inputs(ex)
        names = [f"v{i}" for i in range(len(xs))]
        text = emitter.call_text("self.m", names, args)
        got = eval(text, {**namespace, **dict(zip(names, xs, strict=True))})  # noqa: S307
        assert torch.allclose(got, _apply(op, xs))


def _tiny_graph(name: str, ex: Example) -> Graph:
    """input -> (a layer with weights giving each input's shape) -> the op, so every tool has work, the
    backward reaches the op's input gradient, and nothing but the op's own rules is new."""
    g = Graph(ex.ins[0], name=f"check_{name}")
    if ex.vocab:
        g.input_kind = "tokens"
        g.nodes[INPUT].meta["vocab"] = ex.vocab
        g.add("op", name, [INPUT] * len(ex.ins), **ex.args)
        return g
    sources = []
    for i, shape in enumerate(ex.ins):
        if len(shape) == 3:
            sources.append(g.add(f"pre{i}", "conv2d", INPUT, out_channels=shape[0], kernel=1))
        else:
            sources.append(g.add(f"pre{i}", "linear", INPUT, out_features=shape[-1]))
    g.add("op", name, sources, **ex.args)
    return g


@pytest.mark.parametrize("name, ex", CASES)
def test_crosscheck_explains_every_tool(name: str, ex: Example) -> None:
    """fvcore, FlopCounterMode (forward, forward + backward) and torchinfo on a tiny graph around the op:
    every count predicted by the op's attribution rules, every op fvcore skips attributed to its node."""
    result = crosscheck(_tiny_graph(name, ex))
    for row in result.rows:
        assert row.explained, row.reconciliation
        assert all(s.nodes for s in row.skipped), f"{row.tool} skipped ops no node explains: {row.skipped}"


# ---- the registry ---------------------------------------------------------------------------------------------


def test_registering_an_op_twice_names_both_definitions(scratch_ops: ScratchOps) -> None:
    with pytest.raises(RegistryError, match=r"op 'relu' is registered twice: first at ir/ops/activation.py:\d+"):
        scratch_ops.add(OpDef("relu", "act", lambda *a: (), module=lambda ins, a: nn.ReLU()))


def test_an_unknown_op_or_kind_lists_the_valid_ones(scratch_ops: ScratchOps) -> None:
    with pytest.raises(RegistryError, match="unknown op 'conv3d'; valid: .*conv2d"):
        get_op("conv3d")
    with pytest.raises(RegistryError, match="unknown kind 'wobble'; valid: .*conv"):
        scratch_ops.add(OpDef("wobbly", "wobble", lambda *a: (), module=lambda ins, a: nn.ReLU()))


def test_a_scratch_op_stays_in_its_test(scratch_ops: ScratchOps) -> None:
    scratch_ops.add(OpDef("test_only", "act", lambda node, ins, a, m: ins[0], module=lambda ins, a: nn.ReLU()))
    assert "test_only" in scratch_ops.registry and "test_only" not in OPS


def test_generic_training_cost_fallbacks() -> None:
    """An op without backward / saved rules: the input gradient costs the forward, weights the forward's
    MACs again; every input is saved (what a differentiable op whose gradient needs its inputs does)."""
    tconv = OpDef("t", "conv", lambda node, ins, a, m: ins[0], params=lambda ins, a: 10,
                  macs=lambda ins, out, a: 7, flops=lambda ins, out, a: 3, module=lambda ins, a: nn.Identity())
    b = backward_of(tconv, [(2, 3, 3)], (2, 3, 3), {})
    assert (b.input_macs, b.weight_macs, b.input_flops, b.weight_flops) == (7, 7, 3, 0)
    assert saved_of(tconv, [(2, 3, 3), (2, 3, 3)], (2, 3, 3), {}).inputs == (0, 1)
    view = OpDef("v", "reshape", lambda node, ins, a, m: ins[0], module=lambda ins, a: nn.Identity(), view=True)
    assert saved_of(view, [(4,)], (4,), {}).inputs == ()


def test_arguments_are_validated_with_the_field_named() -> None:
    from engine.core.errors import SpecError

    pool = get_op("maxpool2d")
    with pytest.raises(SpecError, match=r"n.ceil_mode: must be true or false"):
        validate_args(pool, {"ceil_mode": 1}, "n")
    with pytest.raises(SpecError, match=r"n.kernal: unknown argument for op 'maxpool2d'; valid: ceil_mode"):
        validate_args(pool, {"kernal": 3}, "n")
    assert Arg().default is not None


def test_reserved_names_cover_torch_module_attributes() -> None:
    """The IR checks node names without torch, from a written-out list: it must cover the installed torch."""
    from torch import fx

    model = fx.GraphModule(nn.Module(), fx.Graph())
    attributes = {*dir(nn.Module), *dir(fx.GraphModule), *dir(model), *vars(model)}
    missing = {n for n in attributes if not n.startswith("__")} - RESERVED
    assert not missing, f"add to engine/ir/reserved.py: {sorted(missing)}"


def test_unknown_ops_get_their_own_colour_not_the_inputs() -> None:
    from engine.api import kind_colour, op_kind

    assert op_kind("no_such_op") == "unknown" and op_kind("conv2d") == "conv"
    assert kind_colour("unknown") != kind_colour("io")
    assert len({kind_colour(k) for k in KINDS}) == len(KINDS)  # every kind its own colour


def test_counting_imports_no_torch() -> None:
    """Shapes and counts start without torch (issue 21); building imports it."""
    import subprocess
    import sys

    code = ("import sys, engine.api, engine.analysis; engine.api.summarize('resnet50'); "
            "print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False", out.stderr


def test_cost_of_matches_the_rows() -> None:
    from engine.analysis import analyze

    g = _tiny_graph("conv2d", OPS["conv2d"].examples[1])
    row = analyze(g).node("op")
    c = cost_of(row, [[4, 9, 7]], g.nodes["op"].args)
    assert c.params == row.params and c.macs == row.macs and numel(c.out) == numel(tuple(row.out_shape))


def test_the_extending_guide_example_passes_every_check(scratch_ops: ScratchOps) -> None:
    """docs/extending.md's example op, executed as written (in a scratch registry), passes every check above."""
    from pathlib import Path

    guide = (Path(__file__).resolve().parents[1] / "docs" / "extending.md").read_text(encoding="utf-8")
    code = re.search(r"```python\n(.*?)```", guide, re.S)
    assert code, "docs/extending.md lost its example"
    exec(compile(code.group(1), "docs/extending.md", "exec"), {})  # noqa: S102 - the project's own guide
    (name,) = set(scratch_ops.registry) - set(OPS)
    op = get_op(name)
    assert not missing_parts(op)
    for ex in op.examples:
        for check in (test_shape_params_and_macs_equal_pytorch, test_backward_products_equal_flop_counter,
                      test_saved_bytes_equal_saved_tensors_hooks, test_emitter_writes_the_factorys_module,
                      test_crosscheck_explains_every_tool):
            check(name, ex)


def test_the_architecture_drawing_takes_its_colours_from_the_engine() -> None:
    """Each kind in the engine's colour; a node whose op the registry lacks is drawn as "unknown", not as input."""
    from dashboard.charts import architecture_figure
    from engine.api import expand, kind_colour
    from engine.ir.graph import Node

    g = expand("resnet8")
    g.nodes["mystery"] = Node("mystery", "no_such_op", (g.output,))  # a hand-made graph, past Graph.add's check
    markers = {t.name: t.marker.color for t in architecture_figure(g).data if t.mode == "markers"}
    assert markers["unknown"] == kind_colour("unknown") and markers["io"] == kind_colour("io")
    assert markers["conv"] == KINDS["conv"].colour
