"""Code emitters: how each op of the registry is written as plain PyTorch source.

An emitter gives the text of an op's module constructor (``nn.Conv2d(16, 32, kernel_size=3, bias=False)``)
and of its call in ``forward`` (``self.stage1.block0.conv1(x)`` or, for ops without a module,
``out + shortcut``). The exporter (`engine.export.pycode`) walks the graph and asks each node's emitter;
nothing is pickled. An op added later (e.g. in ``engine/ops_extra.py``) becomes exportable by calling
`register_emitter` next to its `register_op`.

An op without an emitter is still exported when its module is a built-in ``torch.nn`` layer whose
``repr`` rebuilds it exactly (checked: same class, same public attributes, same parameter shapes);
anything else is an `ExportError` naming the op.
"""

from __future__ import annotations

import importlib
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from engine.core.errors import SkipLabError
from engine.ir.ops import OpDef, Shape, ZeroPadShortcut

ModuleText = Callable[[list[Shape], dict[str, Any]], str]
# (module attribute like "self.stage1.block0.conv1", input variables, args) -> expression
CallText = Callable[[str, list[str], dict[str, Any]], str]


class ExportError(SkipLabError, ValueError):
    """A graph that cannot be written out (an op with no code emitter, a format whose extra is missing)."""


@dataclass(frozen=True)
class Emitter:
    """How one op is written as source.

    module: constructor text from the input shapes and args; None for ops computed inline (add, concat).
    call: the call expression; default ``<attr>(<inputs>)``.
    helpers: classes or functions the file must define (their source is copied with `inspect.getsource`,
        so they may use only ``torch``, ``nn``, ``F`` (torch.nn.functional), ``math`` and ``typing``), or
        ``"module:Name"`` strings resolved when a file is written (for ops defined in modules imported later).
    """

    module: ModuleText | None = None
    call: CallText | None = None
    helpers: tuple[Any, ...] = ()

    def call_text(self, attr: str, inputs: list[str], args: dict[str, Any]) -> str:
        if self.call is not None:
            return self.call(attr, inputs, args)
        return f"{attr}({', '.join(inputs)})"


EMITTERS: dict[str, Emitter] = {}


def resolve_helper(helper: Any) -> Any:
    """A helper object, or the object a ``"module:Name"`` string names."""
    if isinstance(helper, str):
        module, _, name = helper.partition(":")
        return getattr(importlib.import_module(module), name)
    return helper


def register_emitter(op: str, emitter: Emitter) -> Emitter:
    if op in EMITTERS:
        raise ExportError(f"a code emitter for op {op!r} is already registered")
    EMITTERS[op] = emitter
    return emitter


def kw_args(pairs: list[tuple[str, Any, Any]]) -> list[str]:
    """``name=value`` for every (name, value, default) whose value differs from the default."""
    return [f"{k}={v!r}" for k, v, default in pairs if v != default]


# ---- the core ops (engine/ops.py) --------------------------------------------------------------------------


def _conv(ins: list[Shape], a: dict[str, Any]) -> str:
    pad = a["kernel"] // 2 if a["padding"] is None else a["padding"]  # the rule of ops._conv_pad
    parts = [str(ins[0][0]), str(a["out_channels"]), f"kernel_size={a['kernel']}"]
    parts += kw_args([("stride", a["stride"], 1), ("padding", pad, 0), ("dilation", a["dilation"], 1),
                  ("groups", a["groups"], 1), ("bias", a["bias"], True)])
    return f"nn.Conv2d({', '.join(parts)})"


def _pool(cls: str) -> ModuleText:
    def text(ins: list[Shape], a: dict[str, Any]) -> str:
        parts = [f"kernel_size={a['kernel']}", f"stride={a['stride'] or a['kernel']}"]
        parts += kw_args([("padding", a["padding"], 0)])
        return f"nn.{cls}({', '.join(parts)})"

    return text


def _linear(ins: list[Shape], a: dict[str, Any]) -> str:
    return f"nn.Linear({', '.join([str(ins[0][-1]), str(a['out_features'])] + kw_args([('bias', a['bias'], True)]))})"


def _add_call(attr: str, inputs: list[str], a: dict[str, Any]) -> str:
    return " + ".join(inputs)


def _concat_call(attr: str, inputs: list[str], a: dict[str, Any]) -> str:
    return f"torch.cat([{', '.join(inputs)}], dim=1)"


register_emitter("conv2d", Emitter(_conv))
register_emitter("batchnorm2d", Emitter(lambda ins, a: f"nn.BatchNorm2d({ins[0][0]})"))
register_emitter("relu", Emitter(lambda ins, a: "nn.ReLU()"))
register_emitter("identity", Emitter(lambda ins, a: "nn.Identity()"))
register_emitter("dropout", Emitter(lambda ins, a: f"nn.Dropout(p={a['p']!r})"))
register_emitter("maxpool2d", Emitter(_pool("MaxPool2d")))
register_emitter("avgpool2d", Emitter(_pool("AvgPool2d")))
register_emitter("global_avgpool", Emitter(lambda ins, a: "nn.AdaptiveAvgPool2d(1)"))
register_emitter("flatten", Emitter(lambda ins, a: "nn.Flatten(1)"))
register_emitter("linear", Emitter(_linear))
register_emitter("add", Emitter(call=_add_call))
register_emitter("concat", Emitter(call=_concat_call))
register_emitter("zeropad_shortcut", Emitter(
    lambda ins, a: f"ZeroPadShortcut({ins[0][0]}, {a['out_channels']}, stride={a['stride']})",
    helpers=(ZeroPadShortcut,),
))


# ---- lookup, with the checked fallback for built-in layers ---------------------------------------------------


def emitter_for(node: str, op: OpDef, in_shapes: list[Shape], args: dict[str, Any]) -> Emitter:
    """The node's emitter: registered, or a checked ``repr`` of a built-in torch.nn layer; else ExportError."""
    if op.name in EMITTERS:
        return EMITTERS[op.name]
    if op.module is not None:
        text = repr_constructor(_meta_module(op, in_shapes, args))
        if text is not None:
            return Emitter(lambda ins, a, _t=text: _t)
    raise ExportError(
        f"{node}: op {op.name!r} has no code emitter, so it cannot be written as PyTorch source. Register one "
        f"with engine.export.emitters.register_emitter({op.name!r}, Emitter(module=..., call=...)) next to the "
        "op's register_op, or export this model to ONNX instead (--format onnx)."
    )


def _meta_module(op: OpDef, in_shapes: list[Shape], args: dict[str, Any]) -> nn.Module:
    assert op.module is not None
    with torch.device("meta"):  # no parameter memory: only the configuration is read
        return op.module(in_shapes, args)


def repr_constructor(module: nn.Module) -> str | None:
    """``nn.<repr>`` when that text rebuilds `module` exactly, else None.

    Only leaf layers of torch.nn qualify; the rebuilt layer must have the same class, the same public
    attributes (``repr`` leaves some out, e.g. Upsample's align_corners) and the same parameter shapes.
    """
    cls = type(module)
    if getattr(nn, cls.__name__, None) is not cls or any(True for _ in module.children()):
        return None
    text = "nn." + repr(module)
    try:
        with torch.device("meta"):
            rebuilt = eval(text, {"nn": nn, "torch": torch, "math": math})  # noqa: S307 - our own repr text
    except Exception:  # noqa: BLE001 - any failure means "not rebuildable"
        return None
    if type(rebuilt) is not cls or _config(rebuilt) != _config(module):
        return None
    return text


def _config(module: nn.Module) -> tuple[dict[str, Any], dict[str, tuple[int, ...]]]:
    public = {k: v for k, v in vars(module).items() if not k.startswith("_") and k != "training"}
    shapes = {k: tuple(v.shape) for k, v in module.state_dict(keep_vars=True).items()}
    return public, shapes
