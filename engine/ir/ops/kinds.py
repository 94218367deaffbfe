"""The kinds of op: what each kind means and its colour. Every op names its kind (`OpDef.kind`); the
dashboard colours nodes by it (through `engine.api.kind_colour`), analyses fold and count by it (the depth
of a ResNet counts conv and linear layers; merges decide how forward reads)."""

from __future__ import annotations

from dataclasses import dataclass

from engine.core.registry import Registry


@dataclass(frozen=True)
class Kind:
    name: str
    colour: str  # "#rrggbb"
    doc: str


KINDS: Registry[Kind] = Registry("op kind")
# Shown for a node whose op is not registered (a hand-made graph): never mistaken for a real kind.
UNKNOWN = Kind("unknown", "#ff00ff", "an op the registry does not know")


def register_kind(name: str, colour: str, doc: str) -> Kind:
    return KINDS.register(name, Kind(name, colour, doc))


register_kind("io", "#34495e", "the model input")
register_kind("conv", "#2f6fdf", "convolutions (weights over a spatial window)")
register_kind("linear", "#16a085", "fully connected layers")
register_kind("norm", "#9b59b6", "normalisation (BatchNorm, LayerNorm)")
register_kind("act", "#27ae60", "element-wise activations")
register_kind("pool", "#e67e22", "pooling and means over positions")
register_kind("merge", "#e74c3c", "ops that join paths: residual adds, concatenations, highway merges")
register_kind("gate", "#d35400", "learned gates that weigh a merge")
register_kind("shortcut", "#f1c40f", "parameter-free shortcut paths and adapters")
register_kind("reshape", "#7f8c8d", "ops that only change the layout")
register_kind("reg", "#95a5a6", "regularisation (dropout)")
register_kind("resize", "#1abc9c", "parameter-free resampling")
register_kind("embed", "#8e44ad", "embeddings of tokens and positions")
register_kind("attention", "#c0392b", "attention over a sequence")


def kind_of(op_kind: str) -> Kind:
    """The kind, or `UNKNOWN` for a name that is not registered."""
    return KINDS.get(op_kind) if op_kind in KINDS else UNKNOWN
