"""Graph -> torch.fx.GraphModule.

Submodule names are the node names (``stage2.block0.conv1``), so ``state_dict`` keys, gradient statistics
and the graph drawing all use the same names. The generated ``forward`` (``model.code``) is readable:
one line per node, residual adds as ``+``. A meta-device build allocates no memory (for counting).
"""

from __future__ import annotations

import logging
import operator
import re
from collections.abc import Callable

import torch
from torch import fx, nn

from engine.arch import SpecLike, expand
from engine.core.errors import ResourceError
from engine.core.limits import max_params, memory_budget
from engine.core.registry import Registry
from engine.core.text import fmt_bytes
from engine.ir.graph import INPUT, Graph, infer_shapes
from engine.ir.ops import Shape, get_op

log = logging.getLogger(__name__)

InitFn = Callable[[nn.Module], None]


def _torchvision_init(m: nn.Module) -> None:
    # torchvision resnet.py / densenet.py: Kaiming normal (fan_out) convs, BN 1/0, Linear left at default.
    if isinstance(m, nn.Conv2d | nn.ConvTranspose2d):
        nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
        if m.bias is not None:
            nn.init.zeros_(m.bias)
    elif isinstance(m, nn.BatchNorm2d | nn.GroupNorm | nn.LayerNorm | nn.BatchNorm1d) and m.weight is not None:
        nn.init.ones_(m.weight)
        nn.init.zeros_(m.bias)


def _he_init(m: nn.Module) -> None:
    if isinstance(m, nn.Conv2d | nn.ConvTranspose2d | nn.Linear):
        nn.init.kaiming_normal_(m.weight, nonlinearity="relu")
        if m.bias is not None:
            nn.init.zeros_(m.bias)


def _xavier_init(m: nn.Module) -> None:
    if isinstance(m, nn.Conv2d | nn.ConvTranspose2d | nn.Linear):
        nn.init.xavier_uniform_(m.weight)
        if m.bias is not None:
            nn.init.zeros_(m.bias)


INIT_SCHEMES: Registry[InitFn | None] = Registry("init scheme")
INIT_SCHEMES.register("torchvision", _torchvision_init)
INIT_SCHEMES.register("default", None)  # PyTorch's own per-layer defaults
INIT_SCHEMES.register("he", _he_init)
INIT_SCHEMES.register("xavier", _xavier_init)


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """``auto`` picks CUDA, then Apple MPS, then CPU. An unavailable device is a clear error."""
    name = str(device)
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError("device 'cuda' was asked for but no CUDA GPU is available; use --device auto or cpu")
    if name == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise ValueError("device 'mps' was asked for but Apple MPS is not available; use --device auto or cpu")
    if name not in ("cpu", "meta", "mps") and not name.startswith("cuda"):
        raise ValueError(f"unknown device {name!r}; use auto, cpu, cuda or mps")
    return torch.device(name)


def class_name(graph: Graph) -> str:
    words = re.split(r"[^A-Za-z0-9]+", graph.name or graph.family or "model")
    return "".join(w[:1].upper() + w[1:] for w in words if w) or "Model"


def build(graph: Graph, device: str | torch.device = "cpu", *, seed: int | None = None) -> fx.GraphModule:
    """Build the model. ``device="meta"`` builds without allocating parameter memory."""
    dev = resolve_device(device)
    shapes = infer_shapes(graph)
    check_build(graph, shapes, dev)  # parameters and weight memory, before anything is allocated
    if seed is not None:
        torch.manual_seed(seed)
    fxg = fx.Graph()
    env: dict[str, fx.Node] = {}
    modules: dict[str, nn.Module] = {}
    with torch.device("meta" if dev.type == "meta" else "cpu"):
        for name in graph.topo_order():
            node = graph.nodes[name]
            if name == INPUT:
                env[name] = fxg.placeholder("x")
                continue
            op = get_op(node.op)
            args = tuple(env[s] for s in node.inputs)
            fx_name = name.replace(".", "_")
            if op.module is not None:
                modules[name] = op.module([shapes[s] for s in node.inputs], node.args)
                env[name] = fxg.create_node("call_module", name, args, name=fx_name)
            elif op.function is not None and op.callable() is operator.add:
                # n-ary residual merge as a chain of `+`, the last one carrying the node's name.
                acc = args[0]
                for i, other in enumerate(args[1:], start=1):
                    acc = fxg.create_node("call_function", operator.add, (acc, other),
                                          name=fx_name if i == len(args) - 1 else f"{fx_name}_{i}")
                env[name] = acc
            elif op.function is not None:
                env[name] = fxg.create_node("call_function", op.callable(), args, name=fx_name)
            else:
                raise ValueError(f"{name}: op {node.op!r} has neither a module nor a function to build")
    fxg.output(env[graph.output])
    gm = fx.GraphModule(_root_in_depth_order(modules), fxg, class_name=class_name(graph))
    if dev.type != "meta":
        initialise(gm, graph)
        gm.to(dev)
    return gm


def _root_in_depth_order(modules: dict[str, nn.Module]) -> nn.Module:
    """A module tree filled in graph order. (GraphModule given a dict installs shallow names first, which
    would list ``head`` before ``stage1``; parameters, state_dict keys and seeded init follow depth order.)"""
    root = nn.Module()
    for name, module in modules.items():
        parent = root
        *path, leaf = name.split(".")
        for part in path:
            if not hasattr(parent, part):
                parent.add_module(part, nn.Module())
            parent = getattr(parent, part)
        parent.add_module(leaf, module)
    return root


def initialise(model: nn.Module, graph: Graph) -> None:
    """Apply the graph's init scheme, then zero the layers the spec marked (zero_init_residual)."""
    scheme = INIT_SCHEMES.get(graph.init)  # an unknown scheme is an error that lists the valid ones
    if scheme is not None:
        model.apply(scheme)
    for node in graph.nodes.values():
        if node.meta.get("zero_init"):
            module = model.get_submodule(node.name)
            with torch.no_grad():
                module.weight.zero_()  # BN gamma, or the last conv where there is no BN


def param_count(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def model_bytes(model: nn.Module) -> int:
    return sum(p.numel() * p.element_size() for p in model.parameters()) + sum(
        b.numel() * b.element_size() for b in model.buffers())


def example_input(graph: Graph, batch: int = 2, device: str | torch.device = "cpu") -> torch.Tensor:
    """A random input of the graph's shape (token ids for token models)."""
    if graph.input_kind == "tokens":
        vocab = int(graph.nodes[INPUT].meta.get("vocab", 2))
        return torch.randint(0, vocab, (batch, *graph.input_shape), device=device)
    return torch.randn(batch, *graph.input_shape, device=device)


def build_model(spec: SpecLike, device: str | torch.device = "cpu", *, seed: int | None = None) -> fx.GraphModule:
    """A preset name, spec file, dict or spec -> its model on `device` (the public API's `build_model`)."""
    return build(expand(spec), device, seed=seed)


# ---- guard: refuse before allocating ---------------------------------------------------------------------


def param_total(graph: Graph, shapes: dict[str, Shape]) -> int:
    return sum(get_op(n.op).params([shapes[s] for s in n.inputs], n.args)
               for n in graph.nodes.values() if n.inputs)


def check_build(graph: Graph, shapes: dict[str, Shape], device: torch.device) -> None:
    """Before `engine.build.build` allocates: parameters under SKIPLAB_MAX_PARAMS, float32 weights in memory."""
    params = param_total(graph, shapes)
    label = graph.name or graph.family or "the model"
    limit = max_params()
    if limit is not None and params > limit:
        raise ResourceError(f"{label} has {params:,} parameters, more than the {limit:,} allowed "
                            "(SKIPLAB_MAX_PARAMS); use narrower or fewer layers, or raise SKIPLAB_MAX_PARAMS")
    if params >= 2**62:  # beyond int64: torch cannot even describe the tensors
        raise ResourceError(f"{label} has {params:.3g} parameters, beyond what any tensor library can hold; "
                            "use narrower or fewer layers")
    if device.type == "meta":
        return
    need = params * 4
    for dev in ("cpu", device) if device.type != "cpu" else ("cpu",):  # built on the CPU, then moved
        budget = memory_budget(dev)
        if budget.bytes is not None and need > budget.bytes:
            where = "RAM" if str(dev) == "cpu" else str(dev)
            raise ResourceError(f"{label} has {params:,} parameters: {fmt_bytes(need)} of float32 weights in "
                                f"{where}, more than the {fmt_bytes(budget.bytes)} allowed ({budget.source}); "
                                f"use narrower or fewer layers, or set {budget.fix}")
