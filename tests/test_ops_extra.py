"""The connectivity families' ops beyond what tests/test_ops_registry.py checks for every op (attention against
PyTorch's SDPA, the gate's init, errors that name the node), hand-written graphs that use them, and the CLI
summary of every family."""

from __future__ import annotations

import json
from typing import Any

import pytest
import torch
from torch.nn import functional as F  # noqa: N812

from engine.analysis import analyze
from engine.api import expand, summarize
from engine.cli import main
from engine.core.errors import ShapeError
from engine.ir.ops import get_op, modules, validate_args
from tests.fam_helpers import forward_backward, meta_counts, one_thread  # noqa: F401 (autouse fixture)


def make(op: str, shape: tuple[int, ...], **args: Any) -> tuple[torch.nn.Module, tuple[int, ...], int]:
    """The op's module, its inferred output shape and its params rule, for one input shape."""
    d = get_op(op)
    a = validate_args(d, args, "node")
    out = d.shape("node", [shape], a, {})
    return d.module([shape], a), tuple(out), d.params([shape], a)


def test_gate_bias_starts_negative_under_every_init() -> None:
    for init in ("default", "he", "xavier"):
        g = expand({"family": "mlp", "depth": 3, "connection": "highway", "init": init, "gate_bias": -3})
        model = forward_backward(g)[1]
        assert torch.all(model.get_submodule("layer1.gate").bias == -3)


@pytest.mark.parametrize("causal", [False, True])
def test_attention_matches_torch_sdpa(causal: bool) -> None:
    attn = modules.SelfAttention(heads=2, causal=causal)
    qkv = torch.randn(3, 5, 12)
    q, k, v = (t.reshape(3, 5, 2, 2).transpose(1, 2) for t in qkv.split(4, dim=-1))
    want = F.scaled_dot_product_attention(q, k, v, is_causal=causal).transpose(1, 2).reshape(3, 5, 4)
    assert torch.allclose(attn(qkv), want, atol=1e-6)


@pytest.mark.parametrize("op, shape, args, match", [
    ("self_attention", (5, 10), {"heads": 2}, "heads"),
    ("pool_pad", (6, 8, 8), {"out_channels": 4}, "projection"),
    ("pool_pad", (6,), {"out_channels": 8, "stride": 2}, "image"),
    ("embedding", (4, 4), {"num_embeddings": 3, "dim": 2}, "token ids"),
    ("batchnorm1d", (3, 4, 4), {}, "vectors"),
    ("conv_transpose2d", (3, 4, 4), {"out_channels": 2, "output_padding": 2}, "output_padding"),
])
def test_shape_errors_name_the_node(op: str, shape: tuple[int, ...], args: dict, match: str) -> None:
    with pytest.raises(ShapeError, match=match) as err:
        make(op, shape, **args)
    assert err.value.node == "node"


def test_highway_merge_mismatch_names_the_inputs() -> None:
    d = get_op("highway")
    with pytest.raises(ShapeError, match=r"cannot gate \[4\] \(transform h\) with \[5\] \(carry x\)"):
        d.shape("m", [(4,), (4,), (5,)], {}, {})


# ---- the graph family: the same ops written out by hand ----------------------------------------------------

HIGHWAY_NET = {"family": "graph", "input": [8], "nodes": [
    {"name": "layer1.fc", "op": "linear", "out_features": 8},
    {"name": "layer1.act", "op": "relu", "in": "layer1.fc"},
    {"name": "layer1.gate", "op": "gate", "in": "input", "out_features": 8, "bias_init": -1.0},
    {"name": "layer1.merge", "op": "highway", "in": ["layer1.act", "layer1.gate", "input"]},
    {"name": "head.fc", "op": "linear", "in": "layer1.merge", "out_features": 3},
]}
ATTENTION_NET = {"family": "graph", "input": [6], "nodes": [
    {"name": "embed.tok", "op": "embedding", "num_embeddings": 11, "dim": 8},
    {"name": "embed.pos", "op": "pos_embedding", "in": "embed.tok"},
    {"name": "attn.norm", "op": "layernorm", "in": "embed.pos"},
    {"name": "attn.qkv", "op": "linear", "in": "attn.norm", "out_features": 24},
    {"name": "attn.attend", "op": "self_attention", "in": "attn.qkv", "heads": 2},
    {"name": "attn.proj", "op": "linear", "in": "attn.attend", "out_features": 8},
    {"name": "attn.add", "op": "add", "in": ["attn.proj", "embed.pos"]},
    {"name": "ffn.fc1", "op": "linear", "in": "attn.add", "out_features": 16},
    {"name": "ffn.act", "op": "gelu", "in": "ffn.fc1"},
    {"name": "ffn.fc2", "op": "linear", "in": "ffn.act", "out_features": 8},
    {"name": "ffn.cat", "op": "concat_last", "in": ["ffn.fc2", "attn.add"]},
    {"name": "head.pool", "op": "mean_tokens", "in": "ffn.cat"},
    {"name": "head.fc", "op": "linear", "in": "head.pool", "out_features": 2},
]}
UNET_NET = {"family": "graph", "input": [2, 8, 8], "nodes": [
    {"name": "enc.conv", "op": "conv2d", "out_channels": 4, "bias": True},
    {"name": "down", "op": "maxpool2d", "in": "enc.conv"},
    {"name": "up.t", "op": "conv_transpose2d", "in": "down", "out_channels": 4},
    {"name": "up.b", "op": "upsample", "in": "down"},
    {"name": "skip", "op": "pool_pad", "in": "input", "out_channels": 4},
    {"name": "merge", "op": "concat", "in": ["up.t", "up.b", "skip"]},
    {"name": "head", "op": "conv2d", "in": "merge", "out_channels": 1, "kernel": 1},
]}


@pytest.mark.parametrize("spec", [HIGHWAY_NET, ATTENTION_NET, UNET_NET], ids=["highway", "attention", "unet"])
def test_hand_written_graphs_with_the_new_ops(spec: dict) -> None:
    g = expand(spec)
    shapes, model = forward_backward(g)
    a = analyze(g)
    assert a.params == sum(p.numel() for p in model.parameters()) == meta_counts(g)[0]
    assert a.macs == meta_counts(g)[1]


def test_hand_written_highway_layer_has_2_d2_plus_d_params() -> None:
    a = summarize(HIGHWAY_NET)
    assert next(grp for grp in a.groups if grp.name == "layer1").params == 2 * (8 * 8 + 8)


def test_an_embedding_on_the_input_makes_it_tokens() -> None:
    g = expand(ATTENTION_NET)
    assert g.input_kind == "tokens" and g.nodes["input"].meta["vocab"] == 11
    assert analyze(g).node("attn.attend").macs == 2 * 6 * 6 * 8


# ---- `python -m engine summary` for every family ------------------------------------------------------------

NODE_KEYS = {"name", "op", "inputs", "out_shape", "params", "macs"}
TOP_KEYS = {"name", "family", "input_shape", "output_shape", "params", "trainable_params", "macs", "flops",
            "memory", "nodes", "groups"}


@pytest.mark.parametrize("preset, family", [
    ("densenet_bc_100", "densenet"), ("unet_small", "unet"), ("highway_mlp50", "mlp"),
    ("transformer_tiny", "transformer"),
])
def test_cli_summary_json_for_every_family(preset: str, family: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["summary", preset, "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert set(out) >= TOP_KEYS and out["family"] == family and out["name"] == preset
    assert all(set(n) >= NODE_KEYS for n in out["nodes"])
    assert all({"name", "params", "macs"} <= set(grp) for grp in out["groups"])
    assert out["params"] == summarize(preset).params == sum(n["params"] for n in out["nodes"])
    assert main(["summary", preset, "--level", "block"]) == 0
    assert "total:" in capsys.readouterr().out


def test_cli_summary_of_a_spec_file_with_edits(tmp_path: Any, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "net.json"
    path.write_text(json.dumps({**HIGHWAY_NET, "edits": [
        {"add_skip": {"from": "input", "to": "head.fc", "merge": "gate", "adapter": "projection"}}]}))
    assert main(["summary", str(path), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert {"edit0.adapter.fc", "edit0.gate", "edit0.merge"} <= {n["name"] for n in out["nodes"]}


def test_cli_summary_bad_input_size_is_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["summary", "unet_small", "--input", "3,30,30"]) == 2
    err = capsys.readouterr().err
    assert "enc" in err and "divisible" in err and "Traceback" not in err
