"""Code emitters for the ops of ``engine/ops_extra.py`` (DenseNet, U-Net, MLP and transformer families,
connectivity edits). Registered by op name, with helper classes named as ``"module:Name"`` strings, so
this module imports nothing from ops_extra until a file that uses those ops is written."""

from __future__ import annotations

from typing import Any

from engine.export.emitters import Emitter, kw_args, register_emitter
from engine.ir.ops import Shape

EXTRA = "engine.ir.ops.extra"


def _conv_transpose(ins: list[Shape], a: dict[str, Any]) -> str:
    parts = [str(ins[0][0]), str(a["out_channels"]), f"kernel_size={a['kernel']}"]
    parts += kw_args([("stride", a["stride"], 1), ("padding", a["padding"], 0),
                  ("output_padding", a["output_padding"], 0), ("bias", a["bias"], True)])
    return f"nn.ConvTranspose2d({', '.join(parts)})"


def _upsample(ins: list[Shape], a: dict[str, Any]) -> str:
    # The rule of ops_extra._upsample_module: align_corners only means something for bilinear.
    corners = f", align_corners={a['align_corners']}" if a["mode"] == "bilinear" else ""
    return f"nn.Upsample(scale_factor={a['scale']}, mode={a['mode']!r}{corners})"


def _channels(shape: Shape) -> int:
    return shape[0] if len(shape) == 3 else shape[-1]  # the rule of ops_extra.channels


def _pool_pad(ins: list[Shape], a: dict[str, Any]) -> str:
    extra = a["out_channels"] - _channels(ins[0])
    return f"PoolPad(extra={extra}, stride={a['stride']}, image={len(ins[0]) == 3})"


def _highway(attr: str, inputs: list[str], a: dict[str, Any]) -> str:
    h, t, x = inputs
    return f"{h} * {t} + {x} * (1 - {t})"  # Srivastava et al. 2015, eq. 3


register_emitter("conv_transpose2d", Emitter(_conv_transpose))
register_emitter("upsample", Emitter(_upsample))
register_emitter("layernorm", Emitter(lambda ins, a: f"nn.LayerNorm({ins[0][-1]})"))
register_emitter("batchnorm1d", Emitter(lambda ins, a: f"nn.BatchNorm1d({ins[0][0]})"))
register_emitter("tanh", Emitter(lambda ins, a: "nn.Tanh()"))
register_emitter("sigmoid", Emitter(lambda ins, a: "nn.Sigmoid()"))
register_emitter("gelu", Emitter(lambda ins, a: "nn.GELU()"))
register_emitter("gate", Emitter(
    lambda ins, a: f"SigmoidGate({_channels(ins[0])}, {a['out_features']}, bias_init={a['bias_init']!r})",
    helpers=(f"{EXTRA}:SigmoidGate",)))
register_emitter("highway", Emitter(call=_highway))
register_emitter("concat_last", Emitter(call=lambda attr, inputs, a: f"torch.cat([{', '.join(inputs)}], dim=-1)"))
register_emitter("pool_pad", Emitter(_pool_pad, helpers=(f"{EXTRA}:PoolPad",)))
register_emitter("embedding", Emitter(lambda ins, a: f"nn.Embedding({a['num_embeddings']}, {a['dim']})"))
register_emitter("pos_embedding", Emitter(lambda ins, a: f"LearnedPositions({ins[0][0]}, {ins[0][1]})",
                                          helpers=(f"{EXTRA}:LearnedPositions",)))
register_emitter("self_attention", Emitter(lambda ins, a: f"SelfAttention(heads={a['heads']}, causal={a['causal']})",
                                           helpers=(f"{EXTRA}:SelfAttention",)))
register_emitter("mean_tokens", Emitter(call=lambda attr, inputs, a: f"{inputs[0]}.mean(dim=1)"))
