"""The op registry's types: `OpDef` (one op's whole definition), `Arg` (one argument), `Example`, and the
registry itself (`OPS`, `register_op`, `get_op`). No torch here: counting and shapes start fast; module
factories import torch when a model is built (`engine.ir.ops.modules`).

Shapes never include the batch dimension: an image is ``(C, H, W)``, a vector ``(F,)``, tokens ``(L,)``.

Counting conventions (forward, batch 1), used by `engine.analysis`:

- ``macs``: multiply-accumulates of conv, linear and matmul only. This is the convention of
  torchvision's published "GFLOPS" column and of fvcore's conv/linear handles (one fused
  multiply-add = one "flop" there). Biases are not MACs.
- ``flops``: the element-wise work beyond 2 per MAC, each op documenting its own (bias adds 1 per
  output element, BatchNorm in eval a folded scale and shift 2, ReLU 1, max-pool k*k - 1 comparisons
  per output, ...). Ops that only move data (concat, flatten, zero-pad, identity) count 0.
- ``backward`` / ``saved``: the training cost (`engine.ir.ops.cost`).

Adding an op is adding one `OpDef` to the module of its kind (docs/extending.md);
tests/test_ops_registry.py checks every part of every registered op against PyTorch.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import import_module
from typing import TYPE_CHECKING, Any

from engine.core.errors import RegistryError, SpecError
from engine.core.registry import Registry
from engine.ir.ops.attribution import Cost, Part, torchinfo_default
from engine.ir.ops.cost import Backward, Saved
from engine.ir.ops.emit import Emitter
from engine.ir.ops.kinds import KINDS

if TYPE_CHECKING:
    from torch import nn

Shape = tuple[int, ...]
Args = dict[str, Any]
REQUIRED: Any = object()

ShapeRule = Callable[[str, list[Shape], Args, dict[str, Any]], Shape]  # (node, input shapes, args, meta)
ParamsRule = Callable[[list[Shape], Args], int]
CountRule = Callable[[list[Shape], Shape, Args], int]  # (input shapes, output shape, args)
ModuleFactory = Callable[[list[Shape], Args], "nn.Module"]


@dataclass(frozen=True)
class Arg:
    """One op argument: default (or REQUIRED), type and a range check."""

    default: Any = REQUIRED
    kind: type = int
    check: str = ""  # "positive" | "nonneg" | "prob" | "" ; or "choice:a|b|c"
    doc: str = ""


@dataclass(frozen=True)
class Example:
    """Inputs the registry tests run the op on: input shapes (no batch) and args. ``vocab`` > 0: the
    input is int64 token ids below it."""

    ins: tuple[Shape, ...]
    args: Args = field(default_factory=dict)
    vocab: int = 0


def _zero(*_: Any) -> int:
    return 0


@dataclass(frozen=True)
class OpDef:
    """Everything about one op. Only ``name``, ``kind`` and ``shape`` are needed to register it; the
    registry tests (tests/test_ops_registry.py) fail for a built-in op that leaves out a part."""

    name: str
    kind: str  # an entry of engine.ir.ops.kinds.KINDS: its colour, and how analyses fold it
    shape: ShapeRule  # PyTorch's own formula; a ShapeError naming the node where PyTorch would refuse
    params: ParamsRule = _zero
    macs: CountRule = _zero
    flops: CountRule = _zero  # element-wise FLOPs beyond 2 * MACs
    module: ModuleFactory | None = None  # builds the nn.Module (imports torch when called)
    function: str | None = None  # "module:name" of the callable of an op without a module (add, concat)
    min_inputs: int = 1
    max_inputs: int | None = 1
    args: dict[str, Arg] = field(default_factory=dict)
    doc: str = ""
    # Training rules (engine.ir.ops.cost); None = the generic fallback of `backward_of` / `saved_of`.
    backward: Callable[[list[Shape], Shape, Args], Backward] | None = None
    saved: Callable[[list[Shape], Shape, Args], Saved] | None = None
    view: bool = False  # the output aliases the first input (no new memory)
    # How the op is written as PyTorch source (engine.export.pycode); None for the graph input.
    emitter: Emitter | None = None
    # How the counting libraries see it (engine.analysis.crosscheck; rules in engine.ir.ops.attribution).
    fvcore: Callable[[Cost], list[Part]] | None = None  # fvcore's count beyond our MACs (its extra handles)
    fvcore_aten: dict[str, int] = field(default_factory=dict)  # aten calls of a function op (-1: n_inputs - 1)
    torchinfo: Callable[[Cost], list[Part]] = torchinfo_default
    flop_counter: Callable[[Cost], list[Part]] | None = None  # FlopCounterMode's backward beyond 2 x its MACs
    examples: tuple[Example, ...] = ()

    def callable(self) -> Callable[..., Any]:
        """The function of a module-less op (imported now: it may need torch)."""
        if self.function is None:
            raise RegistryError(f"op {self.name!r} has a module, not a function")
        return resolve(self.function)


def resolve(path: str) -> Any:
    """The object a ``"package.module:name"`` string names."""
    module, _, name = path.partition(":")
    if module == "operator":
        return getattr(operator, name)
    return getattr(import_module(module), name)


OPS: Registry[OpDef] = Registry("op")


def register_op(op: OpDef) -> OpDef:
    """Add an op; its kind must be a registered kind. Twice the same name is an error naming both places."""
    if op.kind not in KINDS:
        raise RegistryError(f"op {op.name!r}: unknown kind {op.kind!r}; valid: {', '.join(sorted(KINDS))}")
    if op.module is None and op.function is None and op.max_inputs != 0:
        raise RegistryError(f"op {op.name!r} needs a module factory or a function")
    return OPS.register(op.name, op, where=_where())


def _where() -> str:
    import sys

    frame = sys._getframe(2)  # noqa: SLF001 - name the file that called register_op, as Registry does
    return f"{frame.f_code.co_filename.rsplit('/engine/', 1)[-1]}:{frame.f_lineno}"


def get_op(name: str) -> OpDef:
    return OPS.get(name)


def all_ops() -> list[OpDef]:
    """Every registered op, in registration order (looked up now, so a test's scratch registry counts)."""
    return OPS.values()


def validate_args(op: OpDef, args: dict[str, Any], where: str) -> dict[str, Any]:
    """Fill defaults, reject unknown and missing args, check types and ranges. `where` prefixes errors."""
    unknown = sorted(set(args) - set(op.args))
    if unknown:
        valid = ", ".join(sorted(op.args)) or "none"
        raise SpecError(f"{where}.{unknown[0]}", f"unknown argument for op {op.name!r}; valid: {valid}")
    out: dict[str, Any] = {}
    for key, spec in op.args.items():
        value = args.get(key, spec.default)
        if value is REQUIRED:
            raise SpecError(f"{where}.{key}", f"op {op.name!r} needs {key!r} ({spec.doc or spec.kind.__name__})")
        if value is not None:
            value = _check_value(value, spec, f"{where}.{key}")
        out[key] = value
    return out


def _check_value(value: Any, spec: Arg, path: str) -> Any:
    if spec.kind is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise SpecError(path, f"must be an integer, got {value!r}")
    elif spec.kind is float:
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            raise SpecError(path, f"must be a finite number, got {value!r}")
        value = float(value)
    elif spec.kind is bool:
        if not isinstance(value, bool):
            raise SpecError(path, f"must be true or false, got {value!r}")
    elif spec.kind is str and not isinstance(value, str):
        raise SpecError(path, f"must be a string, got {value!r}")
    if spec.check == "positive" and value <= 0:
        raise SpecError(path, f"must be a positive integer, got {value!r}")
    if spec.check == "nonneg" and value < 0:
        raise SpecError(path, f"must be zero or more, got {value!r}")
    if spec.check == "prob" and not 0.0 <= value < 1.0:
        raise SpecError(path, f"must be in [0, 1), got {value!r}")
    if spec.check.startswith("choice:"):
        choices = spec.check.removeprefix("choice:").split("|")
        if value not in choices:
            raise SpecError(path, f"must be one of {', '.join(choices)}; got {value!r}")
    return value


def numel(shape: Shape) -> int:
    return math.prod(shape)


def channels(shape: Shape) -> int:
    """Channels of an image [C, H, W]; features (the last dim) of vectors and tokens."""
    return shape[0] if len(shape) == 3 else shape[-1]


def per_element(k: int) -> CountRule:
    """A count of `k` per output element (a flops or backward rule)."""
    return lambda ins, out, a: k * numel(out)


def bias_flops(ins: list[Shape], out: Shape, args: Args) -> int:
    """A bias adds 1 per output element."""
    return numel(out) if args.get("bias") else 0


def same_shape(node: str, ins: list[Shape], args: Args, meta: dict[str, Any]) -> Shape:
    return ins[0]


def nothing_saved(ins: list[Shape], out: Shape, args: Args) -> Saved:
    return Saved()


def no_backward(ins: list[Shape], out: Shape, args: Args) -> Backward:
    return Backward()


def save_input(ins: list[Shape], out: Shape, args: Args) -> Saved:
    return Saved(inputs=(0,))


def save_output(ins: list[Shape], out: Shape, args: Args) -> Saved:
    return Saved(output=True)


def torch_nn(cls: str, *args: Any, **kwargs: Any) -> nn.Module:
    """``torch.nn.<cls>(*args, **kwargs)``, importing torch only now (a module factory's building block)."""
    from torch import nn

    return getattr(nn, cls)(*args, **kwargs)


def helper(name: str, *args: Any, **kwargs: Any) -> nn.Module:
    """An instance of one of SkipLab's own modules (`engine.ir.ops.modules`), imported only now."""
    from engine.ir.ops import modules

    return getattr(modules, name)(*args, **kwargs)
