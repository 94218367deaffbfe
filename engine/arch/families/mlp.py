"""The `mlp` family: deep fully connected nets, plain or with residual, highway or dense connections.

The setting of the vanishing-gradient experiments: a plain deep MLP with PyTorch's default init and no
normalisation loses its gradient within a few dozen layers; identity shortcuts (He et al. 2016), highway
gates (Srivastava et al. 2015, "Training Very Deep Networks": y = H(x)*T(x) + x*(1 - T(x)), T's bias
initialised negative) or dense concatenation (Huang et al. 2017) carry it back.

``depth`` counts weighted layers on the main path, as ResNet depths do: a stem ``stem.fc`` (input ->
width), ``depth - 2`` hidden layers ``layer1`` ... and a classifier ``head.fc``. A plain or highway
layer is ``layer{i}.fc`` -> ``.norm`` -> ``.act``; a residual or dense layer is pre-activation, ``.norm`` ->
``.act`` -> ``.fc`` (with ``head.norm`` / ``head.act`` before ``head.fc``). Then the merge:
``layer{i}.add`` (residual), ``layer{i}.gate`` + ``layer{i}.merge`` (highway) or ``layer{i}.concat``
(dense). An input of more than one dimension (an image) is flattened first.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from engine.arch.families.registry import register_family
from engine.arch.presets import register_preset
from engine.ir.graph import INPUT, Graph
from engine.spec import PosInt, SpecBase

NORM_OPS = {"batch": "batchnorm1d", "layer": "layernorm"}


class MLPSpec(SpecBase):
    family: Literal["mlp"] = "mlp"
    input: list[PosInt] = Field(default_factory=lambda: [64], description="[features]; images are flattened")
    num_classes: PosInt = 10
    depth: int = Field(8, description="weighted layers: stem + (depth - 2) hidden layers + head")
    width: PosInt = 64
    connection: Literal["none", "residual", "highway", "dense"] = "none"
    activation: Literal["relu", "tanh", "sigmoid", "gelu"] = "relu"
    norm: Literal["none", "batch", "layer"] = "none"
    init: Literal["default", "he", "xavier"] = "default"
    gate_bias: float = Field(-2.0, description="initial highway gate bias (negative: start by carrying x)")

    @field_validator("depth")
    @classmethod
    def _depth(cls, v: int) -> int:
        if v < 2:
            raise ValueError(f"must be at least 2 (a stem layer and a head layer), got {v}")
        return v


LAYERS_STAGE = "layers"  # the stage of the hidden layers (stem, layers, head)


class _Builder:
    def __init__(self, spec: MLPSpec) -> None:
        self.spec = spec
        self.g = Graph(tuple(spec.input), name=spec.name, family="mlp", init=spec.init)

    @property
    def preact(self) -> bool:
        # Residual and dense layers are pre-activation, norm -> act -> fc, so the identity path carries the
        # signal untouched (He et al. 2016b) and new features are normalised where they are read (Huang et
        # al. 2017). Post-activation x + act(fc(x)) adds a non-negative term per layer: at depth 50 with
        # default init the logits reach ~1e4 at init, against ~7 pre-activation.
        return self.spec.connection in ("residual", "dense")

    def unit(self, prefix: str, src: str, role: str) -> str:
        """fc -> norm -> activation, or norm -> activation -> fc for pre-activation layers."""
        s, g, meta = self.spec, self.g, {"role": role}
        x = src
        if self.preact:
            if s.norm != "none":
                x = g.add(f"{prefix}.norm", NORM_OPS[s.norm], x, meta)
            x = g.add(f"{prefix}.act", s.activation, x, meta)
        x = g.add(f"{prefix}.fc", "linear", x, meta, out_features=s.width)
        if self.preact:
            return x
        if s.norm != "none":
            x = g.add(f"{prefix}.norm", NORM_OPS[s.norm], x, meta)
        return g.add(f"{prefix}.act", s.activation, x, meta)

    def layer(self, prefix: str, src: str) -> str:
        s, g = self.spec, self.g
        h = self.unit(prefix, src, "branch" if s.connection != "none" else "")
        if s.connection == "residual":
            return g.add(f"{prefix}.add", "add", [h, src], {
                "role": "merge", "main": 0, "input_labels": ["residual branch", "shortcut"]})
        if s.connection == "highway":
            # The gate is the cost of the connection (a plain layer has none), hence role "shortcut".
            t = g.add(f"{prefix}.gate", "gate", src, {"role": "shortcut"}, out_features=s.width,
                      bias_init=s.gate_bias)
            return g.add(f"{prefix}.merge", "highway", [h, t, src], {
                "role": "merge", "main": 0, "input_labels": ["transform H(x)", "gate T(x)", "carry x"]})
        if s.connection == "dense":
            return g.add(f"{prefix}.concat", "concat", [src, h], {
                "role": "merge", "main": 1, "input_labels": ["earlier features", "new features"]})
        return h

    def build(self) -> Graph:
        s, g = self.spec, self.g
        with g.scope("stem"):
            x = g.add("stem.flatten", "flatten", INPUT) if len(s.input) > 1 else INPUT
            # A pre-activation stem is the bare fc: the first layer normalises and activates its own input.
            x = g.add("stem.fc", "linear", x, out_features=s.width) if self.preact else self.unit("stem", x, "")
        for i in range(1, s.depth - 1):  # one stage of hidden layers, each layer a block (with its skip)
            with g.scope(LAYERS_STAGE, f"layer{i}"):
                x = self.layer(f"layer{i}", x)
        with g.scope("head"):
            if self.preact:  # the last layer's output has not been through norm / activation yet
                if s.norm != "none":
                    x = g.add("head.norm", NORM_OPS[s.norm], x)
                x = g.add("head.act", s.activation, x)
            g.add("head.fc", "linear", x, out_features=s.num_classes)
        return g


@register_family("mlp", MLPSpec)
def expand_mlp(spec: MLPSpec) -> Graph:
    return _Builder(spec).build()


# The depth-50 experiment on the flattened 8x8 `digits` (64 features, 10 classes): default init, no norm,
# so the only difference between the three is the connection.
for _conn, _name in (("none", "plain_mlp50"), ("residual", "residual_mlp50"), ("highway", "highway_mlp50")):
    register_preset(_name, {"family": "mlp", "input": [64], "num_classes": 10, "depth": 50, "width": 64,
                            "connection": _conn, "activation": "relu", "norm": "none", "init": "default"})
