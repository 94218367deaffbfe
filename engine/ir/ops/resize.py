"""Parameter-free resampling: upsample (H and W times an integer scale; bilinear or nearest).

FLOPs: bilinear 7 per output element (a weighted sum of 4 neighbours), nearest 0. Backward: dX gathers
each output gradient back: bilinear mirrors the forward (7 per output), nearest sums scale^2 per input
(1 per output). Nothing is saved but the shape.
"""

from __future__ import annotations

from typing import Any

from engine.ir.ops.attribution import Part
from engine.ir.ops.base import Arg, Example, OpDef, Shape, nothing_saved, numel, register_op, torch_nn
from engine.ir.ops.cost import Backward
from engine.ir.ops.emit import Emitter
from engine.ir.ops.formulas import need_rank

Args = dict[str, Any]


def _shape(node: str, ins: list[Shape], args: Args, meta: dict[str, Any]) -> Shape:
    (x,) = ins
    need_rank(node, x, (3,), "an image [C, H, W]")
    return (x[0], x[1] * args["scale"], x[2] * args["scale"])


def _module(ins: list[Shape], a: Args) -> Any:
    corners = a["align_corners"] if a["mode"] == "bilinear" else None  # only bilinear takes align_corners
    return torch_nn("Upsample", scale_factor=a["scale"], mode=a["mode"], align_corners=corners)


def _text(ins: list[Shape], a: Args) -> str:
    corners = f", align_corners={a['align_corners']}" if a["mode"] == "bilinear" else ""
    return f"nn.Upsample(scale_factor={a['scale']}, mode={a['mode']!r}{corners})"


def _fvcore(c: Any) -> list[Part]:
    # fvcore's upsample_nearest2d handle counts 1 and upsample_bilinear2d 4 per output element
    per = 4 if c.args["mode"] == "bilinear" else 1
    return [Part(f"upsample ({c.args['mode']}) {per}/output element", per * numel(c.out))]


register_op(OpDef(
    "upsample", "resize", _shape, flops=lambda ins, out, a: 7 * numel(out) if a["mode"] == "bilinear" else 0,
    module=_module,
    args={"scale": Arg(2, check="positive"), "mode": Arg("bilinear", str, "choice:bilinear|nearest"),
          "align_corners": Arg(False, bool)},
    doc="parameter-free upsampling of H and W by an integer scale",
    backward=lambda ins, out, a: Backward(input_flops=7 * numel(out) if a["mode"] == "bilinear" else numel(out)),
    saved=nothing_saved, emitter=Emitter(_text), fvcore=_fvcore,
    examples=(Example(((2, 3, 4),)), Example(((2, 3, 4),), {"scale": 3, "mode": "nearest"}),
              Example(((2, 3, 3),), {"align_corners": True})),
))
