"""Code emitters: each op's `Emitter` is part of its definition (`OpDef.emitter`, engine.ir.ops.emit); this
module looks it up for the exporter (`engine.export.pycode`).

An op without an emitter is still exported when its module is a built-in ``torch.nn`` layer whose
``repr`` rebuilds it exactly (checked: same class, same public attributes, same parameter shapes);
anything else is an `ExportError` naming the op.
"""

from __future__ import annotations

import importlib
import math
from typing import Any

import torch
from torch import nn

from engine.core.errors import SkipLabError
from engine.ir.ops import Emitter, OpDef, Shape, all_ops

__all__ = ["Emitter", "ExportError", "all_emitters", "emitter_for", "repr_constructor", "resolve_helper"]


class ExportError(SkipLabError, ValueError):
    """A graph that cannot be written out (an op with no code emitter, a format whose extra is missing)."""


NO_EMITTER = ("give the op an emitter in its definition (OpDef(..., emitter=Emitter(module=..., call=...)), "
              "see docs/extending.md), or export to ONNX instead (--format onnx).")


def all_emitters() -> list[Emitter]:
    """The emitters of every registered op (the exporter keeps the model's class name off their helpers)."""
    return [op.emitter for op in all_ops() if op.emitter is not None]


def resolve_helper(helper: Any) -> Any:
    """A helper object, or the object a ``"module:Name"`` string names."""
    if isinstance(helper, str):
        module, _, name = helper.partition(":")
        return getattr(importlib.import_module(module), name)
    return helper


def emitter_for(node: str, op: OpDef, in_shapes: list[Shape], args: dict[str, Any]) -> Emitter:
    """The node's emitter: the op's own, or a checked ``repr`` of a built-in torch.nn layer; else ExportError."""
    if op.emitter is not None:
        return op.emitter
    if op.module is not None:
        text = repr_constructor(_meta_module(op, in_shapes, args))
        if text is not None:
            return Emitter(lambda ins, a, _t=text: _t)
    raise ExportError(f"{node}: op {op.name!r} has no code emitter, so it cannot be written as PyTorch source; "
                      + NO_EMITTER)


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
    if type(rebuilt) is not cls or module_config(rebuilt) != module_config(module):
        return None
    return text


def module_config(module: nn.Module) -> tuple[dict[str, Any], dict[str, tuple[int, ...]]]:
    """What makes two modules the same layer: public attributes and parameter / buffer shapes."""
    public = {k: v for k, v in vars(module).items() if not k.startswith("_") and k != "training"}
    shapes = {k: tuple(v.shape) for k, v in module.state_dict(keep_vars=True).items()}
    return public, shapes
