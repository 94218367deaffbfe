"""The `graph` family: nodes written out by hand. Any op in the registry can be used.

Stages and blocks: a node may name its own (``stage: body``, ``block: body.unit1``). Otherwise its dotted
name, which is the built module's path, declares them as PyTorch's module hierarchy does: ``layer1.fc`` sits in
stage ``layer1``, ``enc.level1.conv`` in stage ``enc`` and block ``enc.level1``; an undotted name is a group of
its own. This is the one place a graph's groups are derived (`default_groups`); every rollup reads the IR's.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from engine.arch.families.registry import register_family
from engine.core.errors import SpecError
from engine.core.text import short
from engine.ir.graph import INPUT, Graph, check_name
from engine.spec import PosInt, SpecBase


class GraphNodeSpec(BaseModel):
    # Op arguments ride along as extra keys and are validated against the op registry at expansion.
    model_config = ConfigDict(extra="allow", strict=True, populate_by_name=True)
    name: str
    op: str
    inputs: list[str] = Field(alias="in", default_factory=lambda: ["input"])
    stage: str | None = Field(default=None, description="the stage this node rolls up into (tables, drawing)")
    block: str | None = Field(default=None, description="the block inside its stage")

    @field_validator("inputs", mode="before")
    @classmethod
    def _one_or_many(cls, v: Any) -> Any:
        return [v] if isinstance(v, str) else v


class GraphSpec(SpecBase):
    family: Literal["graph"] = "graph"
    nodes: list[GraphNodeSpec] = Field(min_length=1)
    output: str | None = Field(default=None, description="default: the last node")
    init: Literal["torchvision", "default", "he", "xavier"] = "default"
    num_classes: PosInt | None = None


@register_family("graph", GraphSpec)
def expand_graph(spec: GraphSpec) -> Graph:
    g = Graph(tuple(spec.input), name=spec.name, family="graph", init=spec.init)
    for i, node in enumerate(spec.nodes):
        args = dict(node.model_extra or {})
        try:
            _check_group_names(spec, i, node)
            stage, block = default_groups(node.name)
            g.add(node.name, node.op, node.inputs, stage=node.stage or stage,
                  block=node.block if node.block is not None else (block if node.stage is None else ""), **args)
        except SpecError as exc:
            # Re-anchor the error on the spec field: nodes[3].kernel rather than the node's own name.
            field = exc.path.removeprefix(node.name).lstrip(".")
            raise SpecError(f"nodes[{i}]" + (f".{field}" if field else ""),
                            f"({short(node.name)}) {exc.message}") from None
        except KeyError as exc:  # unknown op
            raise SpecError(f"nodes[{i}].op", f"({short(node.name)}) {exc}") from None
    # An embedding that reads the input makes it token ids (engine.build.example_input draws ids < vocab).
    vocab = [n.args["num_embeddings"] for n in g.nodes.values() if n.op == "embedding" and INPUT in n.inputs]
    _check_token_flow(spec, g, bool(vocab))
    if vocab:
        g.input_kind = "tokens"
        g.nodes[INPUT].meta["vocab"] = min(vocab)
    g.output = spec.output or spec.nodes[-1].name
    if g.output not in g.nodes:
        raise SpecError("output", f"{g.output!r} is not a node; valid: {', '.join(n.name for n in spec.nodes)}")
    return g


def default_groups(name: str) -> tuple[str, str]:
    """(stage, block) a hand-written node's module path declares: its first and its first two components."""
    parts = name.split(".")
    return (parts[0] if len(parts) > 1 else "", ".".join(parts[:2]) if len(parts) > 2 else "")


def _check_group_names(spec: GraphSpec, i: int, node: GraphNodeSpec) -> None:
    """A stage or block is named like a node (dot-separated identifiers) but not after another node, so an edit
    that names it (``add_skip: {to: ...}``) means one thing."""
    for key in ("stage", "block"):
        group = getattr(node, key)
        if group is None:
            continue
        try:
            check_name(group)
        except SpecError:
            raise SpecError(f"nodes[{i}].{key}", f"({node.name}) {short(group)} is not a group name; use "
                            "dot-separated identifiers like 'stage1' or 'stage1.block0'") from None
        if any(n.name == group for n in spec.nodes):
            raise SpecError(f"nodes[{i}].{key}", f"({node.name}) {short(group)} is also a node's name; a group "
                            "needs a name of its own")
    if node.block and not node.stage:
        raise SpecError(f"nodes[{i}].block", f"({node.name}) a block sits in a stage; give the node a stage too")


def _check_token_flow(spec: GraphSpec, g: Graph, tokens: bool) -> None:
    """Shapes do not carry dtypes: token ids (int64) exist only at the input, so an embedding must read the
    input, and a token input feeds embeddings only (a conv or a norm cannot take int64 ids)."""
    for i, node in enumerate(spec.nodes):
        op, ins = g.nodes[node.name].op, g.nodes[node.name].inputs
        if op == "embedding" and ins != (INPUT,):
            raise SpecError(f"nodes[{i}].in", f"({node.name}) an embedding looks up token ids, which only the input "
                                              f"holds; it reads {', '.join(ins)}; set in: input")
        if tokens and op != "embedding" and INPUT in ins:
            raise SpecError(f"nodes[{i}].in", f"({node.name}) the input holds token ids (an embedding reads it), so "
                                              f"only embeddings may read it, not {op}; read the embedding's output")
