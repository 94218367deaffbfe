"""Parameter-free shortcut paths: identity, zeropad_shortcut (He et al. 2016's option A) and pool_pad (the
adapter of connectivity edits: average-pool by the stride, zero-pad channels).

FLOPs: identity and zero-padding move data (0); pool_pad's average pool adds one per input element and
divides once per output. Backward: data movement only for identity and zero-padding (slice dY, scatter it
strided); pool_pad's average pool spreads dY over its window (1 per input element) and saves its input.
"""

from __future__ import annotations

from typing import Any

from engine.core.errors import ShapeError
from engine.core.text import fmt_shape
from engine.ir.ops.base import (
    Arg,
    Example,
    OpDef,
    Shape,
    channels,
    helper,
    no_backward,
    nothing_saved,
    numel,
    register_op,
    same_shape,
    torch_nn,
)
from engine.ir.ops.cost import Backward, Saved
from engine.ir.ops.emit import Emitter, fixed, own
from engine.ir.ops.formulas import image_out, need_rank, pool_out

Args = dict[str, Any]

register_op(OpDef(
    "identity", "shortcut", same_shape, module=lambda ins, a: torch_nn("Identity"), doc="passes its input on",
    backward=no_backward, saved=nothing_saved, view=True, emitter=Emitter(fixed("nn.Identity()")),
    examples=(Example(((3, 4, 4),)), Example(((5,),))),
))


def _zeropad_shape(node: str, ins: list[Shape], args: Args, meta: dict[str, Any]) -> Shape:
    (x,) = ins
    need_rank(node, x, (3,), "an image [C, H, W]")
    if args["out_channels"] < x[0]:
        raise ShapeError(node, f"a zero-pad shortcut cannot reduce channels from {x[0]} to {args['out_channels']}",
                         expected=f">= {x[0]} channels", received=args["out_channels"],
                         hint="use shortcut B or C (a projection)")
    s = args["stride"]
    return (args["out_channels"], -(-x[1] // s), -(-x[2] // s))  # x[:, :, ::s, ::s] keeps ceil(H / s) >= 1 rows


register_op(OpDef(
    "zeropad_shortcut", "shortcut", _zeropad_shape,
    module=lambda ins, a: helper("ZeroPadShortcut", ins[0][0], a["out_channels"], a["stride"]),
    args={"out_channels": Arg(check="positive"), "stride": Arg(1, check="positive")},
    doc="identity shortcut that subsamples and zero-pads channels (option A); no parameters",
    backward=no_backward, saved=nothing_saved,
    emitter=Emitter(lambda ins, a: f"ZeroPadShortcut({ins[0][0]}, {a['out_channels']}, stride={a['stride']})",
                    helpers=own("ZeroPadShortcut")),
    examples=(Example(((3, 8, 8),), {"out_channels": 6, "stride": 2}), Example(((4, 5, 5),), {"out_channels": 4}),
              Example(((2, 1, 1),), {"out_channels": 5, "stride": 2})),
))


def _pool_pad_shape(node: str, ins: list[Shape], args: Args, meta: dict[str, Any]) -> Shape:
    (x,) = ins
    out, s = args["out_channels"], args["stride"]
    need_rank(node, x, (1, 2, 3), "vectors [F], tokens [L, D] or an image [C, H, W]")
    if out < channels(x):
        raise ShapeError(node, f"a pool adapter cannot reduce {channels(x)} channels to {out}",
                         expected=f">= {channels(x)} channels", received=out, hint="use adapter: projection")
    if len(x) != 3:
        if s != 1:
            raise ShapeError(node, f"stride {s} needs an image [C, H, W], got {fmt_shape(x)}", hint="use stride 1")
        return (*x[:-1], out)
    if s == 1:
        return (out, x[1], x[2])
    return (out, *image_out(node, x, pool_out, s, s, 0))  # F.avg_pool2d(x, s)


def _pool_pad_text(ins: list[Shape], a: Args) -> str:
    return f"PoolPad(extra={a['out_channels'] - channels(ins[0])}, stride={a['stride']}, image={len(ins[0]) == 3})"


register_op(OpDef(
    "pool_pad", "shortcut", _pool_pad_shape,
    flops=lambda ins, out, a: numel(ins[0]) + numel(out) if a["stride"] > 1 else 0,
    module=lambda ins, a: helper("PoolPad", a["out_channels"] - channels(ins[0]), a["stride"], len(ins[0]) == 3),
    args={"out_channels": Arg(check="positive"), "stride": Arg(1, check="positive")},
    doc="parameter-free adapter: average-pool by stride, zero-pad channels",
    backward=lambda ins, out, a: Backward(input_flops=numel(ins[0]) if a["stride"] > 1 else 0),
    saved=lambda ins, out, a: Saved(inputs=(0,)) if a["stride"] > 1 and len(ins[0]) == 3 else Saved(),
    emitter=Emitter(_pool_pad_text, helpers=own("PoolPad")),
    examples=(Example(((3, 8, 8),), {"out_channels": 5, "stride": 2}), Example(((3, 7, 7),), {"out_channels": 3,
                                                                                              "stride": 2}),
              Example(((4,),), {"out_channels": 6}), Example(((3, 4),), {"out_channels": 5})),
))
