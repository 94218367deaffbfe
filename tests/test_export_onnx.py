"""ONNX export: resnet20 runs in onnxruntime with PyTorch's outputs; without the extra, a clear message."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch

from engine.api import build_model
from engine.cli import main
from engine.export.extras import MissingExtraError, require


def test_missing_extra_names_the_pip_command(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "onnx", None)  # makes `import onnx` fail as if it were not installed
    with pytest.raises(MissingExtraError, match=r"pip install onnx onnxruntime"):
        require("onnx", "ONNX export")


def test_cli_without_extra_exits_2_with_message(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setitem(sys.modules, "onnx", None)
    assert main(["export", "resnet8", "--format", "onnx", "--out", str(tmp_path / "m.onnx")]) == 2
    err = capsys.readouterr().err
    assert "ONNX export needs the optional package 'onnx'" in err and "pip install onnx onnxruntime" in err
    assert "Traceback" not in err


def test_resnet20_onnx_matches_pytorch_in_onnxruntime(tmp_path: Path) -> None:
    pytest.importorskip("onnx", reason="the onnx extra is not installed (pip install onnx onnxruntime)")
    ort = pytest.importorskip("onnxruntime", reason="the onnx extra is not installed (pip install onnx onnxruntime)")
    from engine.export.onnx_export import export_onnx

    model = build_model("resnet20", seed=3).eval()
    report = export_onnx("resnet20", tmp_path / "resnet20.onnx", model=model)
    assert report.output_shape == [10] and report.checked_with_onnxruntime
    assert report.max_rel_diff is not None and report.max_rel_diff < 1e-5
    session = ort.InferenceSession(str(tmp_path / "resnet20.onnx"), providers=["CPUExecutionProvider"])
    x = torch.randn(3, 3, 32, 32)  # another batch size than the export's: the batch axis is dynamic
    (got,) = session.run(None, {session.get_inputs()[0].name: x.numpy()})
    with torch.no_grad():
        want = model(x)
    assert got.shape == (3, 10)
    assert float((torch.from_numpy(got) - want).abs().max()) < 1e-4


def test_cli_onnx_with_imported_weights(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("onnx", reason="the onnx extra is not installed (pip install onnx onnxruntime)")
    pytest.importorskip("onnxruntime", reason="the onnx extra is not installed (pip install onnx onnxruntime)")
    from engine.export.onnx_export import run_onnx

    trained = build_model("resnet8", seed=7).eval()
    torch.save(trained.state_dict(), tmp_path / "w.pt")
    out = tmp_path / "r8.onnx"
    assert main(["export", "resnet8", "--format", "onnx", "--out", str(out), "--weights", str(tmp_path / "w.pt")]) == 0
    assert "onnxruntime matches PyTorch" in capsys.readouterr().out
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        assert float((torch.from_numpy(run_onnx(out, x)) - trained(x)).abs().max()) < 1e-4


def test_onnx_bytes_for_download() -> None:
    onnx = pytest.importorskip("onnx", reason="the onnx extra is not installed (pip install onnx onnxruntime)")
    from engine.export import onnx_bytes

    model = onnx.load_from_string(onnx_bytes("resnet8"))
    assert [i.name for i in model.graph.input] == ["input"]
