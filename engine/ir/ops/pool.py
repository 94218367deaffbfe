"""Pooling: maxpool2d, avgpool2d (PyTorch's output size, ceil_mode included) and global_avgpool.

FLOPs: max-pool k*k - 1 comparisons per output; average pool k*k adds and a divide per output (k*k);
the global average one add per input element plus one divide per output. Backward: max-pool scatters each
output gradient to its argmax (1 add per output) and its forward saves the input and the int64 argmax
indices (max_pool2d_with_indices); the average pool mirrors its forward (k*k per output) and saves its
input; a 1x1 adaptive average is a mean: its backward spreads dY / (H * W) over the input (1 per input
element) and saves nothing but the shape.
"""

from __future__ import annotations

from typing import Any

from engine.ir.ops.attribution import Part
from engine.ir.ops.base import Arg, Example, OpDef, Shape, nothing_saved, numel, register_op, save_input, torch_nn
from engine.ir.ops.cost import Backward, Saved
from engine.ir.ops.emit import Emitter, fixed, kw_args
from engine.ir.ops.formulas import image_out, need_rank, pool_out

Args = dict[str, Any]
ARGS = {"kernel": Arg(2, check="positive"), "stride": Arg(None, check="positive", doc="default: the kernel"),
        "padding": Arg(0, check="nonneg"), "ceil_mode": Arg(False, bool, doc="round the output size up")}
EXAMPLES = (Example(((3, 8, 8),)), Example(((2, 7, 5),), {"kernel": 3, "stride": 2, "padding": 1}),
            Example(((2, 6, 5),), {"kernel": 3, "stride": 2, "ceil_mode": True}),
            Example(((1, 1, 1),), {"kernel": 3, "stride": 2, "padding": 1}))


def _stride(args: Args) -> int:
    return args["stride"] or args["kernel"]


def _shape(node: str, ins: list[Shape], args: Args, meta: dict[str, Any]) -> Shape:
    (x,) = ins
    need_rank(node, x, (3,), "an image [C, H, W]")
    return (x[0], *image_out(node, x, pool_out, args["kernel"], _stride(args), args["padding"], args["ceil_mode"]))


def _module(cls: str):  # noqa: ANN202 - a module factory
    return lambda ins, a: torch_nn(cls, a["kernel"], _stride(a), a["padding"], ceil_mode=a["ceil_mode"])


def _text(cls: str):  # noqa: ANN202 - an emitter's module text
    def text(ins: list[Shape], a: Args) -> str:
        parts = [f"kernel_size={a['kernel']}", f"stride={_stride(a)}"]
        parts += kw_args([("padding", a["padding"], 0), ("ceil_mode", a["ceil_mode"], False)])
        return f"nn.{cls}({', '.join(parts)})"

    return text


register_op(OpDef(
    "maxpool2d", "pool", _shape, flops=lambda ins, out, a: numel(out) * (a["kernel"] ** 2 - 1),
    module=_module("MaxPool2d"), args=ARGS, doc="max pooling; stride defaults to the kernel",
    backward=lambda ins, out, a: Backward(input_flops=numel(out)),
    saved=lambda ins, out, a: Saved(inputs=(0,), extra_bytes=8 * numel(out)),
    emitter=Emitter(_text("MaxPool2d")), examples=EXAMPLES,
))
register_op(OpDef(
    "avgpool2d", "pool", _shape, flops=lambda ins, out, a: numel(out) * (a["kernel"] ** 2),
    module=_module("AvgPool2d"), args=ARGS, doc="average pooling; stride defaults to the kernel",
    backward=lambda ins, out, a: Backward(input_flops=numel(out) * a["kernel"] ** 2), saved=save_input,
    emitter=Emitter(_text("AvgPool2d")), examples=EXAMPLES,
))


def _global_shape(node: str, ins: list[Shape], args: Args, meta: dict[str, Any]) -> Shape:
    need_rank(node, ins[0], (3,), "an image [C, H, W]")
    return (ins[0][0], 1, 1)


register_op(OpDef(
    "global_avgpool", "pool", _global_shape, flops=lambda ins, out, a: numel(ins[0]) + numel(out),
    module=lambda ins, a: torch_nn("AdaptiveAvgPool2d", 1), doc="average over H and W to [C, 1, 1]",
    backward=lambda ins, out, a: Backward(input_flops=numel(ins[0])), saved=nothing_saved,
    emitter=Emitter(fixed("nn.AdaptiveAvgPool2d(1)")),
    fvcore=lambda c: [Part("adaptive avgpool 1/input element", numel(c.ins[0]))],
    examples=(Example(((4, 5, 3),)), Example(((2, 1, 1),))),
))
