"""Importing local weights: a report naming every renamed / missing / mis-shaped key, no traceback, and
pickles holding arbitrary objects refused before anything in them runs."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import torch

from engine.api import build_model
from engine.cli import main
from engine.export.weights import WeightsError, load_weights


class _Evil:
    """Unpickling this would run a shell command (the classic __reduce__ attack)."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple:
        return (os.system, (f"touch {self.marker}",))


class _Custom:
    pass


@pytest.fixture
def trained() -> dict[str, torch.Tensor]:
    return build_model("resnet8", seed=11).state_dict()


def test_matching_checkpoint_loads_everything(tmp_path: Path, trained: dict[str, torch.Tensor]) -> None:
    torch.save(trained, tmp_path / "w.pt")
    report = load_weights("resnet8", tmp_path / "w.pt")
    assert report.ok and len(report.loaded) == len(trained)
    for key, value in report.model.state_dict().items():
        assert torch.equal(value, trained[key]), key


def test_renamed_and_misshaped_keys_are_each_named(tmp_path: Path, trained: dict[str, torch.Tensor]) -> None:
    sd = dict(trained)
    sd["stage1.block0.conv_1.weight"] = sd.pop("stage1.block0.conv1.weight")  # renamed
    sd["head.fc.weight"] = torch.zeros(5, 64)  # wrong shape: a 5-class head
    sd["extra.thing"] = torch.ones(3)  # unexpected
    torch.save(sd, tmp_path / "w.pt")
    report = load_weights("resnet8", tmp_path / "w.pt")
    assert not report.ok
    assert report.missing == ["stage1.block0.conv1.weight"]
    assert sorted(report.unexpected) == ["extra.thing", "stage1.block0.conv_1.weight"]
    assert [(m.key, m.expected, m.got) for m in report.mismatched] == [("head.fc.weight", [10, 64], [5, 64])]
    assert report.suggestions == {"stage1.block0.conv_1.weight": "stage1.block0.conv1.weight"}
    text = report.text()
    for key in ("stage1.block0.conv1.weight", "stage1.block0.conv_1.weight", "extra.thing", "head.fc.weight"):
        assert key in text
    assert "model expects [10, 64], file has [5, 64]" in text
    model = report.model.state_dict()
    assert torch.equal(model["stage2.block0.conv1.weight"], trained["stage2.block0.conv1.weight"])  # loaded
    assert torch.equal(model["head.fc.bias"], trained["head.fc.bias"])
    assert not torch.equal(model["head.fc.weight"][:5], torch.zeros(5, 64))  # mis-shaped: left alone


def test_strict_refuses_a_partial_load(tmp_path: Path, trained: dict[str, torch.Tensor]) -> None:
    sd = dict(trained)
    del sd["head.fc.bias"]
    torch.save(sd, tmp_path / "w.pt")
    model = build_model("resnet8", seed=0)
    before = model.state_dict()["head.fc.weight"].clone()
    with pytest.raises(WeightsError, match="head.fc.bias"):
        load_weights(model, tmp_path / "w.pt", strict=True)
    assert torch.equal(model.state_dict()["head.fc.weight"], before)  # nothing loaded


def test_training_checkpoint_with_wrapper_prefix(tmp_path: Path, trained: dict[str, torch.Tensor]) -> None:
    ckpt = {"epoch": 3, "optimizer": {"lr": 0.1}, "state_dict": {f"module.{k}": v for k, v in trained.items()}}
    torch.save(ckpt, tmp_path / "ckpt.pth")
    report = load_weights("resnet8", tmp_path / "ckpt.pth")
    assert report.ok and report.nested_key == "state_dict" and report.stripped_prefix == "module."


@pytest.mark.parametrize("payload", ["evil", "custom"])
def test_pickle_with_arbitrary_objects_is_refused(tmp_path: Path, payload: str) -> None:
    marker = tmp_path / "pwned"
    obj = _Evil(marker) if payload == "evil" else _Custom()
    torch.save({"head.fc.bias": torch.zeros(10), "x": obj}, tmp_path / "bad.pt")
    with pytest.raises(WeightsError) as info:
        load_weights("resnet8", tmp_path / "bad.pt")
    text = str(info.value)
    assert "refused to load" in text and "weights_only=True" in text
    assert ("system" in text) if payload == "evil" else ("_Custom" in text)
    assert not marker.exists()  # no code ran


def test_safetensors(tmp_path: Path, trained: dict[str, torch.Tensor]) -> None:
    st = pytest.importorskip("safetensors.torch", reason="the safetensors extra is not installed")
    st.save_file({k: v.contiguous() for k, v in trained.items()}, str(tmp_path / "w.safetensors"))
    report = load_weights("resnet8", tmp_path / "w.safetensors")
    assert report.ok and report.format == "safetensors"


def test_not_a_state_dict(tmp_path: Path) -> None:
    torch.save(torch.zeros(3), tmp_path / "t.pt")
    with pytest.raises(WeightsError, match="expected a state_dict"):
        load_weights("resnet8", tmp_path / "t.pt")
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint at all")
    with pytest.raises(WeightsError, match="not a readable PyTorch weights file"):
        load_weights("resnet8", tmp_path / "junk.pt")
    with pytest.raises(WeightsError, match="no such weights file"):
        load_weights("resnet8", tmp_path / "missing.pt")


def test_cli_report(tmp_path: Path, trained: dict[str, torch.Tensor], capsys: pytest.CaptureFixture[str]) -> None:
    sd = dict(trained)
    sd["head.fc.weight"] = torch.zeros(5, 64)
    torch.save(sd, tmp_path / "w.pt")
    assert main(["load-weights", "resnet8", str(tmp_path / "w.pt"), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["mismatched"] == [{"key": "head.fc.weight", "expected": [10, 64], "got": [5, 64]}]
    assert main(["load-weights", "resnet8", str(tmp_path / "w.pt"), "--strict"]) == 2
    torch.save({"x": _Custom()}, tmp_path / "bad.pt")
    assert main(["load-weights", "resnet8", str(tmp_path / "bad.pt")]) == 2
    err = capsys.readouterr().err
    assert "refused to load" in err and "Traceback" not in err
