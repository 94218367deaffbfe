"""PyTorch code export: for every preset the exported file, run in a fresh process that cannot import
SkipLab, builds the same model (parameter count, state_dict keys and shapes)
and, loaded with the original's weights, gives the same outputs."""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import torch
from torch import nn

from engine.api import build_model, expand, load_spec
from engine.arch.presets import preset_names
from engine.build import example_input
from engine.export import ExportError, export_python
from engine.export.emitters import all_emitters
from engine.ir.graph import Graph
from engine.ir.ops import OpDef
from tests.op_helpers import ScratchOps

SMALL_IMAGENET = [3, 64, 64]  # the ImageNet nets at 64x64 keep the test CPU-sized; the code is the same

# Runs in the child: imports each exported file by path, builds, checks, loads the weights, runs forward.
CHILD = r"""
import importlib.util, json, sys
import torch

torch.set_num_threads(1)
manifest = json.load(open(sys.argv[1]))
results = {}
for entry in manifest:
    spec = importlib.util.spec_from_file_location(entry["module"], entry["py"])
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    model = getattr(module, entry["factory"])()
    sd = model.state_dict()
    data = torch.load(entry["pt"], weights_only=True)
    model.load_state_dict(data["state_dict"], strict=True)
    model.eval()
    with torch.no_grad():
        y = model(data["x"])
    results[entry["name"]] = {
        "params": sum(p.numel() for p in model.parameters()),
        "keys": [[k, list(v.shape)] for k, v in sd.items()],
        "max_abs_diff": float((y - data["y"]).abs().max()),
        "out_shape": list(y.shape),
    }
results["__engine_imported__"] = any(m == "engine" or m.startswith("engine.") for m in sys.modules)
json.dump(results, open(sys.argv[2], "w"))
"""


def _randomize_norms(model: nn.Module, gen: torch.Generator) -> None:
    """Fresh BatchNorms are all alike (gamma 1, beta 0, mean 0, var 1), which would hide swapped layers."""
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.weight.copy_(torch.rand(m.weight.shape, generator=gen) + 0.5)
                m.bias.copy_(torch.randn(m.bias.shape, generator=gen) * 0.1)
                m.running_mean.copy_(torch.randn(m.running_mean.shape, generator=gen) * 0.1)
                m.running_var.copy_(torch.rand(m.running_var.shape, generator=gen) + 0.5)


def _small_spec(name: str) -> Any:
    spec = load_spec(name)
    big = len(spec.input) == 3 and spec.input[1] > 64
    return load_spec(name, input_shape=[spec.input[0], *SMALL_IMAGENET[1:]]) if big else spec


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Export every preset, save the original's weights, input and output, then check all in one child."""
    root = tmp_path_factory.mktemp("export_py")
    threads = torch.get_num_threads()
    # One thread: small convs gain nothing from two, and on a busy 2-core machine the second one's
    # synchronisation makes a forward pass up to 100x slower.
    torch.set_num_threads(1)
    try:
        return _export_all(root)
    finally:
        torch.set_num_threads(threads)


def _export_all(root: Path) -> dict[str, Any]:
    gen = torch.Generator().manual_seed(123)
    manifest, expected = [], {}
    for i, name in enumerate(preset_names()):
        spec = _small_spec(name)
        graph = expand(spec)
        source = export_python(spec)
        (root / f"m{i}.py").write_text(source)
        model = build_model(spec, seed=0)
        _randomize_norms(model, gen)
        model.eval()
        x = example_input(graph, batch=1 if len(spec.input) == 3 and spec.input[1] > 32 else 2)
        with torch.no_grad():
            y = model(x)
        torch.save({"state_dict": model.state_dict(), "x": x, "y": y}, root / f"m{i}.pt")
        factory = next(n.name for n in ast.parse(source).body
                       if isinstance(n, ast.FunctionDef) and n.name.startswith("build_"))
        manifest.append({"name": name, "module": f"m{i}", "py": str(root / f"m{i}.py"),
                         "pt": str(root / f"m{i}.pt"), "factory": factory})
        expected[name] = {"params": sum(p.numel() for p in model.parameters()), "source": source,
                          "keys": [[k, list(v.shape)] for k, v in model.state_dict().items()],
                          "out_shape": list(y.shape)}
        del model
    (root / "manifest.json").write_text(json.dumps(manifest))
    (root / "child.py").write_text(CHILD)
    # A fresh interpreter that cannot import SkipLab: no PYTHONPATH, run from the temp directory.
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    proc = subprocess.run([sys.executable, str(root / "child.py"), str(root / "manifest.json"),
                           str(root / "out.json")], cwd=root, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return {"got": json.loads((root / "out.json").read_text()), "expected": expected, "root": root}


def test_child_never_imported_skiplab(exported: dict[str, Any]) -> None:
    assert exported["got"]["__engine_imported__"] is False


@pytest.mark.parametrize("name", preset_names())
def test_exported_preset_matches(exported: dict[str, Any], name: str) -> None:
    got, want = exported["got"][name], exported["expected"][name]
    assert got["params"] == want["params"]
    # Same names and shapes. (The order differs: fx.GraphModule installs submodules shallowest first.)
    assert dict(map(tuple, got["keys"])) == dict(map(tuple, want["keys"]))
    assert len(got["keys"]) == len(want["keys"])
    assert got["out_shape"] == want["out_shape"]
    assert got["max_abs_diff"] < 1e-5
    imports = set()
    for node in ast.walk(ast.parse(want["source"])):
        if isinstance(node, ast.Import):
            imports |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            imports.add((node.module or "").split(".")[0])
    assert imports <= {"torch", "math", "typing"}, imports


def test_exported_code_is_readable(exported: dict[str, Any]) -> None:
    src = exported["expected"]["resnet20"]["source"]
    assert "class Resnet20(nn.Module):" in src and "def build_resnet20() -> Resnet20:" in src
    assert "self.stage1.block0.conv1 = nn.Conv2d(16, 16, kernel_size=3, padding=1, bias=False)" in src
    assert "class ZeroPadShortcut(nn.Module):" in src  # the option-A helper is defined in the file
    assert "x = out + x  # [N, 16, 32, 32]" in src  # an identity skip, visible as Python
    assert "x = out + shortcut  # [N, 32, 16, 16]" in src
    assert "shortcut = self.stage2.block0.shortcut(x)  # [N, 32, 16, 16]" in src
    plain = exported["expected"]["plain20"]["source"]
    assert " + " not in plain.split("def forward")[1].split("def build_")[0]  # a plain net has no skips
    assert "pickle" not in src


def test_exported_file_runs_as_a_script(exported: dict[str, Any]) -> None:
    root: Path = exported["root"]
    path = root / "resnet8_script.py"
    path.write_text(exported["expected"]["resnet8"]["source"])
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    proc = subprocess.run([sys.executable, str(path)], cwd=root, env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert "75290 parameters; output (2, 10)" in proc.stdout


def test_exported_file_is_ruff_clean(exported: dict[str, Any], tmp_path: Path) -> None:
    pytest.importorskip("ruff", reason="ruff (requirements-dev.txt) checks the generated code's style")
    for name in ("resnet8", "preact_resnet18", "resnet50"):
        (tmp_path / f"{name}.py").write_text(exported["expected"][name]["source"])
    proc = subprocess.run([sys.executable, "-m", "ruff", "check", "--isolated", "--line-length", "120",
                           "--select", "E,F,W,I,UP,B", str(tmp_path)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout


# ---- ops beyond the core: emitters, the checked repr fallback, and the error for an unknown op -----------


class _Scale(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * 2


def _op(ops: ScratchOps, name: str, module: Any) -> OpDef:
    """A test-only op without an emitter, in this test's scratch registry."""
    return ops.add(OpDef(name, "act", lambda node, ins, a, m: ins[0], module=lambda ins, a: module()))


def _graph(op: str) -> Graph:
    g = Graph((4, 8, 8), name="tiny")
    g.add("conv", "conv2d", "input", out_channels=4)
    g.add("act", op, "conv")
    g.add("merge", "concat", ["act", "conv"])
    return g


def _run_in_fresh_namespace(source: str, factory: str) -> nn.Module:
    namespace: dict[str, Any] = {"__name__": "exported"}
    exec(compile(source, "exported.py", "exec"), namespace)  # noqa: S102 - our own generated code
    return namespace[factory]()


def test_builtin_layer_without_emitter_is_exported_via_checked_repr(scratch_ops: ScratchOps) -> None:
    op = _op(scratch_ops, "test_leaky", lambda: nn.LeakyReLU(0.2))
    assert op.emitter is None and len(all_emitters()) == len(scratch_ops.registry) - 2  # not it, not the input
    graph = _graph("test_leaky")
    source = export_python(graph)
    assert "self.act = nn.LeakyReLU(negative_slope=0.2)" in source
    assert "x = torch.cat([x, out], dim=1)" in source or "torch.cat([" in source
    from engine.build import build

    original = build(graph, seed=0).eval()
    copy = _run_in_fresh_namespace(source, "build_tiny").eval()
    copy.load_state_dict(original.state_dict())
    x = torch.randn(2, 4, 8, 8)
    assert torch.equal(copy(x), original(x))


@pytest.mark.parametrize("op, module", [
    ("test_custom_scale", _Scale),  # a custom class: its source is not known to be standalone
    ("test_upsample_ac", lambda: nn.Upsample(scale_factor=2, mode="bilinear", align_corners=True)),  # lossy repr
])
def test_op_without_emitter_is_a_clear_error(op: str, module: Any, scratch_ops: ScratchOps) -> None:
    _op(scratch_ops, op, module)
    with pytest.raises(ExportError) as info:
        export_python(_graph(op))
    text = str(info.value)
    assert f"op {op!r} (node 'act')" in text and "emitter=Emitter(" in text and "docs/extending.md" in text


def test_cli_export_py(tmp_path: Path) -> None:
    from engine.cli import main

    out = tmp_path / "r8.py"
    assert main(["export", "resnet8", "--format", "py", "--out", str(out)]) == 0
    assert "def build_resnet8() -> Resnet8:" in out.read_text()
    assert main(["export", "resnet8", "--weights", "x.pt"]) == 2  # weights only apply to onnx


# ---- ops that no preset uses (the presets cover the rest; tests/test_ops_registry.py checks every emitter) ---


def _extra_graphs() -> list[Graph]:
    image = Graph((4, 8, 8), name="extra_image")
    image.add("up", "upsample", "input", scale=2, mode="bilinear", align_corners=True)
    image.add("near", "upsample", "up", scale=2, mode="nearest")
    image.add("down", "pool_pad", "near", out_channels=6, stride=4)
    image.add("t", "conv_transpose2d", "down", out_channels=3, kernel=3, stride=2, padding=1, output_padding=1)
    vector = Graph((10,), name="extra_vector")
    vector.add("bn", "batchnorm1d", "input")
    vector.add("t", "tanh", "bn")
    vector.add("s", "sigmoid", "bn")
    vector.add("c", "concat_last", ["t", "s"])
    vector.add("pad", "pool_pad", "c", out_channels=24)
    tokens = Graph((6, 12), name="extra_tokens")
    tokens.add("attend", "self_attention", "input", heads=2, causal=True)
    tokens.add("act", "gelu", "attend")
    tokens.add("gate", "gate", "act", out_features=4, bias_init=-1.0)
    tokens.add("pool", "mean_tokens", "gate")
    return [image, vector, tokens]


def test_extra_ops_export() -> None:
    from engine.build import build

    for graph in _extra_graphs():
        source = export_python(graph)
        original = build(graph, seed=0).eval()
        copy = _run_in_fresh_namespace(source, f"build_{graph.name}").eval()
        copy.load_state_dict(original.state_dict(), strict=True)
        x = torch.randn(2, *graph.input_shape)
        with torch.no_grad():
            assert torch.allclose(copy(x), original(x), atol=1e-6), graph.name


def test_edited_spec_export() -> None:
    from engine.spec import to_dict

    spec = to_dict(load_spec("resnet20"))
    spec["edits"] = [
        {"add_skip": {"from": "stage1.block0", "to": "stage3.block0", "merge": "gate", "adapter": "pool"}},
        {"add_skip": {"from": "stage1.block1", "to": "stage2.block2", "merge": "concat", "adapter": "projection"}},
        {"remove_skip": "stage2.block1"},
    ]
    source = export_python(spec)
    assert "stage1_block0 = x  # kept for the skip to edit0" in source  # the long skip's source is named
    original = build_model(spec, seed=0).eval()
    copy = _run_in_fresh_namespace(source, "build_resnet20").eval()
    copy.load_state_dict(original.state_dict(), strict=True)
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        assert torch.allclose(copy(x), original(x), atol=1e-6)
    assert max(len(line) for line in source.split("class Resnet20")[1].splitlines()) <= 120
