"""The `transformer` family: an encoder whose sub-layers (attention, FFN) sit on residual connections.

Sources: Vaswani et al. 2017 (post-norm: x = LN(x + sublayer(x))); Xiong et al. 2020, "On Layer
Normalization in the Transformer Architecture" (pre-norm: x = x + sublayer(LN(x)), plus a final LN, as
GPT-2 and ViT). ``residual: false`` drops both residual adds, the transformer analogue of a plain net.

Names: ``embed.tok`` (token ids) or ``embed.proj`` (feature input), ``embed.pos``; per block (from 0)
``block0.attn.norm``, ``.attn.qkv``, ``.attn.attend`` (QK^T, softmax, AV), ``.attn.proj``, ``.attn.add``,
``block0.ffn.norm``, ``.ffn.fc1``, ``.ffn.act``, ``.ffn.fc2``, ``.ffn.add``; ``head.norm``, ``head.pool``
(mean over tokens), ``head.fc``. A block with ffn = 4d, biases and two LayerNorms has 12d^2 + 13d
parameters (REFERENCE.md).
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, ValidationInfo, field_validator

from engine.arch.families.registry import register_family
from engine.arch.presets import register_preset
from engine.ir.graph import INPUT, Graph
from engine.spec import PosInt, SpecBase

DEFAULT_VOCAB = 16


class TransformerSpec(SpecBase):
    family: Literal["transformer"] = "transformer"
    input: list[PosInt] = Field(default_factory=lambda: [32],
                                description="[seq_len] token ids, or [seq_len, features] vectors")
    vocab: PosInt | None = Field(default=None, validate_default=True,
                                 description=f"token input only; default {DEFAULT_VOCAB}")
    num_classes: PosInt = 10
    d_model: PosInt = 64
    heads: PosInt = 4
    depth: PosInt = 2
    ffn: PosInt | None = Field(default=None, description="FFN hidden width; default 4 * d_model")
    norm: Literal["pre", "post", "none"] = "pre"
    residual: bool = True
    pos_embedding: bool = True

    @field_validator("input")
    @classmethod
    def _tokens_or_features(cls, v: list[int]) -> list[int]:
        if len(v) not in (1, 2):
            raise ValueError(f"must be [seq_len] (token ids) or [seq_len, features], got {v}")
        return v

    @field_validator("vocab")
    @classmethod
    def _vocab(cls, v: int | None, info: ValidationInfo) -> int | None:
        shape = info.data.get("input")
        if shape is None:
            return v
        if len(shape) == 1 and v is None:
            return DEFAULT_VOCAB
        if len(shape) == 2 and v is not None:
            raise ValueError(f"{v} applies to token input [seq_len], but the input {shape} is [seq_len, features]; "
                             "remove vocab or give input [seq_len]")
        return v

    @field_validator("heads")
    @classmethod
    def _heads(cls, v: int, info: ValidationInfo) -> int:
        d = info.data.get("d_model")
        if d is not None and d % v:
            raise ValueError(f"{v} heads do not divide d_model {d}; pick heads that divide d_model")
        return v


class _Builder:
    def __init__(self, spec: TransformerSpec) -> None:
        self.spec = spec
        self.g = Graph(tuple(spec.input), name=spec.name, family="transformer", init="default")

    def norm(self, name: str, src: str, role: str) -> str:
        return self.g.add(name, "layernorm", src, {"role": role})

    def sublayer(self, prefix: str, src: str, body: list[tuple[str, str, dict]]) -> str:
        """One residual sub-layer: [pre-norm] body [+ x] [post-norm]."""
        s, g, branch = self.spec, self.g, {"role": "branch"}
        x = self.norm(f"{prefix}.norm", src, "branch") if s.norm == "pre" else src
        for name, op, args in body:
            x = g.add(f"{prefix}.{name}", op, x, branch, **args)
        if s.residual:
            x = g.add(f"{prefix}.add", "add", [x, src], {
                "role": "merge", "main": 0, "input_labels": ["sub-layer", "shortcut"]})
        if s.norm == "post":
            x = self.norm(f"{prefix}.norm", x, "merge")
        return x

    def build(self) -> Graph:
        s, g = self.spec, self.g
        d, hidden = s.d_model, s.ffn or 4 * s.d_model
        with g.scope("embed"):
            if len(s.input) == 1:
                g.input_kind = "tokens"
                g.nodes[INPUT].meta["vocab"] = s.vocab
                x = g.add("embed.tok", "embedding", INPUT, num_embeddings=s.vocab, dim=d)
            else:
                x = g.add("embed.proj", "linear", INPUT, out_features=d)
            if s.pos_embedding:
                x = g.add("embed.pos", "pos_embedding", x)
        # Stages: each encoder block; its blocks: the two residual sub-layers.
        for i in range(s.depth):
            with g.scope(f"block{i}", f"block{i}.attn"):
                x = self.sublayer(f"block{i}.attn", x, [
                    ("qkv", "linear", {"out_features": 3 * d}),
                    ("attend", "self_attention", {"heads": s.heads}),
                    ("proj", "linear", {"out_features": d}),
                ])
            with g.scope(f"block{i}", f"block{i}.ffn"):
                x = self.sublayer(f"block{i}.ffn", x, [
                    ("fc1", "linear", {"out_features": hidden}),
                    ("act", "gelu", {}),
                    ("fc2", "linear", {"out_features": d}),
                ])
        with g.scope("head"):
            if s.norm == "pre":
                x = self.norm("head.norm", x, "")
            x = g.add("head.pool", "mean_tokens", x)
            g.add("head.fc", "linear", x, out_features=s.num_classes)
        return g


@register_family("transformer", TransformerSpec)
def expand_transformer(spec: TransformerSpec) -> Graph:
    return _Builder(spec).build()


# Sized for the built-in `sequence` dataset (majority token; vocab 16, seq_len 32, 10 classes).
register_preset("transformer_tiny", {"family": "transformer", "input": [32], "vocab": 16, "num_classes": 10,
                                     "d_model": 32, "heads": 4, "depth": 2, "norm": "pre", "residual": True})
