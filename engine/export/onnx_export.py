"""Export a model to ONNX (optional extra: ``pip install onnx onnxruntime``).

Uses PyTorch's TorchScript-based exporter (``dynamo=False``): it needs only the ``onnx`` package, while
the torch.export-based default of PyTorch >= 2.9 also needs ``onnxscript``. The batch dimension is
dynamic. When onnxruntime is installed the file is run once and compared with PyTorch (max abs diff).
"""

from __future__ import annotations

import logging
import tempfile
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from engine.arch import SpecLike, expand, load_spec
from engine.build import build_model, example_input
from engine.export.extras import has, require

log = logging.getLogger(__name__)

OPSET = 17


@dataclass
class OnnxReport:
    path: str
    opset: int
    input_shape: list[int]
    output_shape: list[int]
    bytes: int
    checked_with_onnxruntime: bool
    max_abs_diff: float | None
    max_rel_diff: float | None  # max abs diff / max |output|: fresh deep nets can have outputs of 1e5

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def export_onnx(spec: SpecLike, path: str | Path, *, model: nn.Module | None = None, seed: int = 0,
                opset: int = OPSET, verify: bool = True) -> OnnxReport:
    """Write `spec`'s model (or `model`, e.g. with imported weights) as ONNX to `path`, in eval mode."""
    onnx = require("onnx", "ONNX export")
    parsed = load_spec(spec)
    graph = expand(parsed)
    net = (model if model is not None else build_model(parsed, seed=seed)).eval()
    x = example_input(graph, batch=2)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings():  # the exporter's deprecation and constant-folding notes are not for users
        warnings.simplefilter("ignore")
        torch.onnx.export(net, (x,), str(path), dynamo=False, opset_version=opset, input_names=["input"],
                          output_names=["output"], dynamic_axes={"input": {0: "batch"}, "output": {0: "batch"}})
    onnx.checker.check_model(str(path))
    with torch.no_grad():
        expected = net(x)
    diff = rel = None
    if verify and has("onnxruntime"):
        got = run_onnx(path, x)
        diff = float((torch.from_numpy(got) - expected).abs().max())
        rel = diff / max(float(expected.abs().max()), 1e-12)
        log.info("onnxruntime output matches PyTorch to %.2e (relative %.2e)", diff, rel)
    return OnnxReport(str(path), opset, list(graph.input_shape), list(expected.shape[1:]), path.stat().st_size,
                      diff is not None, diff, rel)


def run_onnx(path: str | Path, x: torch.Tensor) -> Any:
    """Run an exported file in onnxruntime on the CPU; returns the output as a numpy array."""
    ort = require("onnxruntime", "Running an ONNX file")
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(None, {session.get_inputs()[0].name: x.numpy()})[0]


def onnx_bytes(spec: SpecLike, *, model: nn.Module | None = None, seed: int = 0) -> bytes:
    """The ONNX file of `export_onnx` in memory (for a download button)."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "model.onnx"
        export_onnx(spec, path, model=model, seed=seed)
        return path.read_bytes()
