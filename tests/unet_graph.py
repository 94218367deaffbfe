"""The classic U-Net (Ronneberger et al. 2015, with BN) written out as a `graph` spec, node by node, so the
analysis and the cross-check are tested on ConvTranspose2d, concat skips and conv biases independently of the
unet family's expander."""

from __future__ import annotations

from typing import Any


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
        nodes.append({"name": f"{p}.up", "op": "conv_transpose2d", "in": x, "out_channels": w, "bias": True})
        nodes.append({"name": f"{p}.cat", "op": "concat", "in": [skips.pop(), f"{p}.up"]})
        x = double(p, f"{p}.cat", w)
    nodes.append({"name": "head.conv", "op": "conv2d", "in": x, "out_channels": out_ch, "kernel": 1, "bias": True})
    return {"family": "graph", "name": "unet_graph", "input": [in_ch, size, size], "nodes": nodes}
