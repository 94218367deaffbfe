"""Independent checks shared by the family and edit tests: real parameter counts, FlopCounterMode MACs,
real per-node shapes from a forward pass, and a forward + backward with a gradient on every parameter."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import torch
from torch import fx
from torch.utils.flop_counter import FlopCounterMode

from engine.build import build, example_input
from engine.ir.graph import INPUT, Graph


def meta_input(g: Graph, batch: int = 1) -> torch.Tensor:
    if g.input_kind == "tokens":
        return torch.zeros(batch, *g.input_shape, dtype=torch.long, device="meta")
    return torch.empty(batch, *g.input_shape, device="meta")


def meta_counts(g: Graph) -> tuple[int, int]:
    """(sum of p.numel(), MACs = FlopCounterMode's forward FLOPs / 2) on the meta device: no memory."""
    model = build(g, "meta").eval()  # eval: BatchNorm takes a batch of one 1x1 map
    with FlopCounterMode(display=False) as counter:
        model(meta_input(g))
    return sum(p.numel() for p in model.parameters()), counter.get_total_flops() // 2


class _Recorder(fx.Interpreter):
    def __init__(self, module: fx.GraphModule) -> None:
        super().__init__(module)
        self.shapes: dict[str, tuple[int, ...]] = {}

    def run_node(self, n: fx.Node) -> object:
        out = super().run_node(n)
        if isinstance(out, torch.Tensor):
            self.shapes[n.name] = tuple(out.shape[1:])
        return out


def real_shapes(g: Graph, model: fx.GraphModule, x: torch.Tensor) -> tuple[dict[str, tuple[int, ...]], torch.Tensor]:
    """Every graph node's real output shape (batch dimension dropped), by running the fx graph node by node."""
    rec = _Recorder(model)
    out = rec.run(x)
    shapes = {name: rec.shapes[name.replace(".", "_")] for name in g.nodes if name != INPUT}
    return shapes, out


def forward_backward(g: Graph, seed: int = 0, batch: int = 2) -> tuple[dict[str, tuple[int, ...]], fx.GraphModule]:
    """Build on CPU, run forward recording shapes, backward a scalar loss; every parameter must get a gradient."""
    model = build(g, "cpu", seed=seed)
    model.train()
    torch.manual_seed(seed)
    shapes, out = real_shapes(g, model, example_input(g, batch))
    (out.float() ** 2).mean().backward()
    missing = [n for n, p in model.named_parameters() if p.grad is None]
    assert not missing, f"no gradient on {missing}"
    return shapes, model


@pytest.fixture(autouse=True, scope="module")
def one_thread() -> Iterator[None]:
    """Tiny models run fastest on one thread; several threads on a loaded 2-core box spin and crawl."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
