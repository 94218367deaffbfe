"""Convolutions: conv2d and conv_transpose2d (the U-Net's learned upsampling).

MACs: conv2d H_out * W_out * C_out * (C_in / groups) * k * k; a transposed conv multiplies every input
pixel into a k x k x C_out patch, so H_in * W_in * C_in * C_out * k * k (torch.utils.flop_counter's rule).
Bias adds 1 FLOP per output element. Backward (Backward, engine.ir.ops.cost): dX and dW are each one product
of the forward's size, the bias gradient sums dY (1 per output element); the input is saved.
"""

from __future__ import annotations

from typing import Any

from engine.core.errors import ShapeError
from engine.ir.ops.attribution import Cost, Part, torchinfo_conv
from engine.ir.ops.base import Arg, Example, OpDef, Shape, bias_flops, numel, register_op, save_input, torch_nn
from engine.ir.ops.cost import weighted_backward
from engine.ir.ops.emit import Emitter, kw_args
from engine.ir.ops.formulas import conv_out, conv_transpose_out, image_out, need_rank

Args = dict[str, Any]


# ---- conv2d ---------------------------------------------------------------------------------------------


def _pad(args: Args) -> int:
    return args["kernel"] // 2 if args["padding"] is None else args["padding"]


def _conv_shape(node: str, ins: list[Shape], args: Args, meta: dict[str, Any]) -> Shape:
    (x,) = ins
    need_rank(node, x, (3,), "an image [C, H, W]")
    if x[0] % args["groups"] or args["out_channels"] % args["groups"]:
        raise ShapeError(node, f"channels {x[0]} -> {args['out_channels']} are not divisible by groups "
                               f"{args['groups']}", hint="use a groups value that divides both")
    return (args["out_channels"],
            *image_out(node, x, conv_out, args["kernel"], args["stride"], _pad(args), args["dilation"]))


def _conv_params(ins: list[Shape], args: Args) -> int:
    cin = ins[0][0] // args["groups"]
    return args["out_channels"] * cin * args["kernel"] ** 2 + (args["out_channels"] if args["bias"] else 0)


def _conv_macs(ins: list[Shape], out: Shape, args: Args) -> int:
    return numel(out) * (ins[0][0] // args["groups"]) * args["kernel"] ** 2


def _conv_text(ins: list[Shape], a: Args) -> str:
    parts = [str(ins[0][0]), str(a["out_channels"]), f"kernel_size={a['kernel']}"]
    parts += kw_args([("stride", a["stride"], 1), ("padding", _pad(a), 0), ("dilation", a["dilation"], 1),
                      ("groups", a["groups"], 1), ("bias", a["bias"], True)])
    return f"nn.Conv2d({', '.join(parts)})"


def _grouped_weight_grad(c: Cost) -> list[Part]:
    # flop_counter's conv_backward_flop multiplies by all C_in for dW: groups x the true products (a conv's
    # dW costs its forward MACs).
    groups = int(c.args.get("groups", 1) or 1)
    return [Part("grouped-conv dW counted x groups by flop_counter", 2 * c.macs * (groups - 1))] if groups > 1 else []


register_op(OpDef(
    "conv2d", "conv", _conv_shape, _conv_params, _conv_macs, bias_flops,
    module=lambda ins, a: torch_nn("Conv2d", ins[0][0], a["out_channels"], a["kernel"], stride=a["stride"],
                                   padding=_pad(a), dilation=a["dilation"], groups=a["groups"], bias=a["bias"]),
    args={"out_channels": Arg(check="positive", doc="output channels"), "kernel": Arg(3, check="positive"),
          "stride": Arg(1, check="positive"), "padding": Arg(None, check="nonneg"),
          "dilation": Arg(1, check="positive"), "groups": Arg(1, check="positive"), "bias": Arg(False, bool)},
    doc="2-D convolution; padding defaults to kernel // 2 ('same' at stride 1)",
    backward=lambda ins, out, a: weighted_backward(out, a, _conv_macs(ins, out, a)), saved=save_input,
    emitter=Emitter(_conv_text),
    torchinfo=torchinfo_conv("Conv2d"), flop_counter=_grouped_weight_grad,
    examples=(Example(((3, 8, 8),), {"out_channels": 4}),
              Example(((4, 9, 7),), {"out_channels": 6, "kernel": 3, "stride": 2, "padding": 0, "dilation": 2,
                                     "groups": 2, "bias": True}),
              Example(((2, 1, 1),), {"out_channels": 3, "kernel": 3, "stride": 2, "padding": 1})),  # 1x1 -> 1x1
))

# ---- conv_transpose2d ---------------------------------------------------------------------------------------


def _convt_shape(node: str, ins: list[Shape], args: Args, meta: dict[str, Any]) -> Shape:
    (x,) = ins
    need_rank(node, x, (3,), "an image [C, H, W]")
    return (args["out_channels"], *image_out(node, x, conv_transpose_out, args["kernel"], args["stride"],
                                             args["padding"], args["output_padding"]))


def _convt_macs(ins: list[Shape], out: Shape, args: Args) -> int:
    return numel(ins[0]) * out[0] * args["kernel"] ** 2


def _convt_text(ins: list[Shape], a: Args) -> str:
    parts = [str(ins[0][0]), str(a["out_channels"]), f"kernel_size={a['kernel']}"]
    parts += kw_args([("stride", a["stride"], 1), ("padding", a["padding"], 0),
                      ("output_padding", a["output_padding"], 0), ("bias", a["bias"], True)])
    return f"nn.ConvTranspose2d({', '.join(parts)})"


register_op(OpDef(
    "conv_transpose2d", "conv", _convt_shape,
    params=lambda ins, a: ins[0][0] * a["out_channels"] * a["kernel"] ** 2 + (a["out_channels"] if a["bias"] else 0),
    macs=_convt_macs, flops=bias_flops,
    module=lambda ins, a: torch_nn("ConvTranspose2d", ins[0][0], a["out_channels"], a["kernel"], stride=a["stride"],
                                   padding=a["padding"], output_padding=a["output_padding"], bias=a["bias"]),
    args={"out_channels": Arg(check="positive", doc="output channels"), "kernel": Arg(2, check="positive"),
          "stride": Arg(2, check="positive"), "padding": Arg(0, check="nonneg"),
          "output_padding": Arg(0, check="nonneg"), "bias": Arg(False, bool)},
    doc="transposed 2-D convolution (a learned upsampling; k=2, s=2 doubles H and W)",
    backward=lambda ins, out, a: weighted_backward(out, a, _convt_macs(ins, out, a)), saved=save_input,
    emitter=Emitter(_convt_text), torchinfo=torchinfo_conv("ConvTranspose2d"),
    examples=(Example(((3, 5, 7),), {"out_channels": 4}),
              Example(((3, 5, 5),), {"out_channels": 2, "kernel": 3, "stride": 2, "padding": 1,
                                     "output_padding": 1, "bias": True})),
))
