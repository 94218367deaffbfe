"""The graph's input placeholder. Its shape is the graph's input shape (`engine.ir.graph.infer_shapes`); it
has no module (the built model's argument ``x``), costs nothing and needs no emitter."""

from __future__ import annotations

from engine.ir.ops.base import OpDef, no_backward, nothing_saved, register_op

register_op(OpDef("input", "io", lambda node, ins, a, m: (), min_inputs=0, max_inputs=0,
                  doc="the model input (images, vectors or token ids)", backward=no_backward, saved=nothing_saved))
