"""A classic U-Net written as a `graph` spec, with a test-only transposed-conv op, so the analysis and the
cross-check can be tested on ConvTranspose2d, concat skips and conv biases before the unet family lands.

The op is registered under a test-only name by the `tconv_op` fixture (and removed after), so it never
collides with the real `conv_transpose2d` op of engine/ops_extra.py. It deliberately defines no
`backward` / `saved` rules: it exercises the registry's generic fallbacks (engine.ir.ops.cost).
"""

from __future__ import annotations

from typing import Any

from torch import nn

from engine.ir.ops import OPS, Arg, OpDef, Shape, numel, register_op

TCONV = "test_conv_transpose2d"


def _shape(node: str, ins: list[Shape], args: dict[str, Any], meta: dict[str, Any]) -> Shape:
    c, h, w = ins[0]
    s, k = args["stride"], args["kernel"]
    return (args["out_channels"], (h - 1) * s + k, (w - 1) * s + k)


def tconv_def() -> OpDef:
    return OpDef(
        TCONV, "conv", _shape,
        params=lambda ins, a: (ins[0][0] * a["out_channels"] * a["kernel"] ** 2
                               + (a["out_channels"] if a["bias"] else 0)),
        # each input position scatters a k x k patch to every output channel: MACs at input positions
        macs=lambda ins, out, a: numel(ins[0]) * a["out_channels"] * a["kernel"] ** 2,
        flops=lambda ins, out, a: numel(out) if a["bias"] else 0,
        module=lambda ins, a: nn.ConvTranspose2d(ins[0][0], a["out_channels"], a["kernel"], a["stride"],
                                                 bias=a["bias"]),
        args={"out_channels": Arg(check="positive"), "kernel": Arg(2, check="positive"),
              "stride": Arg(2, check="positive"), "bias": Arg(True, bool)},
    )


def register_tconv() -> None:
    if TCONV not in OPS:
        register_op(tconv_def())


def unregister_tconv() -> None:
    OPS.pop(TCONV, None)


def unet_spec(widths: tuple[int, ...] = (64, 128, 256, 512, 1024), size: int = 128, in_ch: int = 3,
              out_ch: int = 1) -> dict[str, Any]:
    """Ronneberger et al. 2015 with BN (REFERENCE.md): double 3x3 conv + BN + ReLU with conv bias, 2x2
    max-pool down, 2x2 stride-2 transposed conv up, concat skip, 1x1 head."""
    nodes: list[dict[str, Any]] = []

    def double(prefix: str, src: str, width: int) -> str:
        x = src
        for i in (1, 2):
            nodes.append({"name": f"{prefix}.conv{i}", "op": "conv2d", "in": x, "out_channels": width, "bias": True})
            nodes.append({"name": f"{prefix}.bn{i}", "op": "batchnorm2d", "in": f"{prefix}.conv{i}"})
            nodes.append({"name": f"{prefix}.relu{i}", "op": "relu", "in": f"{prefix}.bn{i}"})
            x = f"{prefix}.relu{i}"
        return x

    x, skips = "input", []
    for i, w in enumerate(widths[:-1]):
        x = double(f"down{i + 1}", x, w)
        skips.append(x)
        nodes.append({"name": f"down{i + 1}.pool", "op": "maxpool2d", "in": x})
        x = f"down{i + 1}.pool"
    x = double("bottom", x, widths[-1])
    for i, w in enumerate(reversed(widths[:-1])):
        p = f"up{i + 1}"
        nodes.append({"name": f"{p}.up", "op": TCONV, "in": x, "out_channels": w})
        nodes.append({"name": f"{p}.cat", "op": "concat", "in": [skips.pop(), f"{p}.up"]})
        x = double(p, f"{p}.cat", w)
    nodes.append({"name": "head.conv", "op": "conv2d", "in": x, "out_channels": out_ch, "kernel": 1, "bias": True})
    return {"family": "graph", "name": "unet_graph", "input": [in_ch, size, size], "nodes": nodes}
