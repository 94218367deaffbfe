"""How an op is written as plain PyTorch source: the `Emitter` part of its definition (`OpDef.emitter`).

An emitter gives the text of an op's module constructor (``nn.Conv2d(16, 32, kernel_size=3, bias=False)``)
and of its call in ``forward`` (``self.stage1.block0.conv1(x)`` or, for ops without a module,
``out + shortcut``). `engine.export.pycode` walks the graph and asks each node's op for its emitter;
nothing is pickled. The texts are data, not code: argument values go through ``repr`` (`kw_args`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

Shape = tuple[int, ...]
ModuleText = Callable[[list[Shape], dict[str, Any]], str]
# (module attribute like "self.stage1.block0.conv1", input variables, args) -> expression
CallText = Callable[[str, list[str], dict[str, Any]], str]
MODULES = "engine.ir.ops.modules"  # where SkipLab's own nn.Module classes live (copied into exported files)


@dataclass(frozen=True)
class Emitter:
    """How one op is written as source.

    module: constructor text from the input shapes and args; None for ops computed inline (add, concat).
    call: the call expression; default ``<attr>(<inputs>)``.
    helpers: ``"module:Name"`` strings of classes or functions the file must define (their source is
        copied with `inspect.getsource`, so they may use only ``torch``, ``nn``, ``F``
        (torch.nn.functional), ``math`` and ``typing``); resolved only when a file is written.
    """

    module: ModuleText | None = None
    call: CallText | None = None
    helpers: tuple[str, ...] = ()

    def call_text(self, attr: str, inputs: list[str], args: dict[str, Any]) -> str:
        if self.call is not None:
            return self.call(attr, inputs, args)
        return f"{attr}({', '.join(inputs)})"


def kw_args(pairs: list[tuple[str, Any, Any]]) -> list[str]:
    """``name=value`` for every (name, value, default) whose value differs from the default."""
    return [f"{k}={v!r}" for k, v, default in pairs if v != default]


def fixed(text: str) -> ModuleText:
    """A constructor text that does not depend on shapes or args (``nn.ReLU()``)."""
    return lambda ins, a: text


def own(name: str) -> tuple[str, ...]:
    """The helpers tuple for one of SkipLab's own modules."""
    return (f"{MODULES}:{name}",)
