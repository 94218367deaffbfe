"""Fine-tuning: a run started from a checkpoint loads what maps, renews the head, trains only what is not frozen
(checked on the optimizer's parameter groups and on unchanged frozen weights), scales the loaded layers' learning
rate when asked, records what it started from, and raises no vanishing-gradient alert for frozen layers."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from engine.api import build_model
from engine.cli import main
from engine.core.errors import SkipLabError, SpecError
from engine.export.layouts import skiplab_slot
from engine.store import RunStore
from engine.train.config import parse_config
from engine.train.events import Layer
from engine.train.health import HealthMonitor
from engine.train.trainer import _Loop, train
from tests.train_helpers import FAST, dataset

# Three stages of one basic block each at 16x16: resnet8's layout, small enough for a few steps in a test.
SPEC = {"family": "resnet", "input": [3, 16, 16], "num_classes": 10, "stages": [{"blocks": 1, "width": w}
                                                                                 for w in (8, 16, 32)]}


@pytest.fixture
def checkpoint(tmp_path: Path) -> Path:
    """A 'pretrained' SkipLab checkpoint with 5 classes (so the 10-class spec gets a new head)."""
    path = tmp_path / "pretrained.pt"
    torch.save(build_model({**SPEC, "num_classes": 5}, seed=7).state_dict(), path)
    return path


def _frozen(name: str, up_to: int) -> bool:
    slot = skiplab_slot(name.rsplit(".", 1)[0])
    return slot is not None and (slot.part == "stem" or (slot.part == "block" and slot.stage <= up_to))


def test_freeze_stage2_trains_only_the_unfrozen_parameters(tmp_path: Path, checkpoint: Path) -> None:
    data = dataset("shapes", train_size=64, val_size=32, size=16)
    cfg = parse_config({**FAST, "steps": 6, "lr": 0.05, "init_from": str(checkpoint), "freeze": "stage2",
                        "loaded_lr_scale": 0.1, "log_every": 1})
    loop = _Loop(SPEC, cfg, data)
    named = dict(loop.model.named_parameters())
    in_groups = {id(p) for g in loop.opt.param_groups for p in g["params"]}
    frozen = {n for n in named if _frozen(n, 2)}
    assert frozen and all(not named[n].requires_grad and id(named[n]) not in in_groups for n in frozen)
    assert in_groups == {id(p) for n, p in named.items() if n not in frozen}  # every other parameter trains
    scales = {(g["loaded"], g["lr_scale"]) for g in loop.opt.param_groups}
    assert scales == {(True, 0.1), (False, 1.0)}  # stage3 loaded at 0.1 x lr; the new head at lr
    head = {id(named["head.fc.weight"]), id(named["head.fc.bias"])}
    assert all(not g["loaded"] for g in loop.opt.param_groups if head & {id(p) for p in g["params"]})
    assert [layer.frozen for layer in loop.layers].count(True) == 10  # stem conv, bn; stage1, stage2: 2 x (conv, bn)
    # train it and compare the final weights with the checkpoint
    before = torch.load(checkpoint, weights_only=True)
    events = list(train(SPEC, cfg, dataset=data, weights_path=tmp_path / "after.pt"))
    after = torch.load(tmp_path / "after.pt", weights_only=True)
    assert events[-1].status == "done"
    for key, value in after.items():
        module = key.rsplit(".", 1)[0]
        if _frozen(key, 2):  # weights and BN statistics: frozen BNs run in eval mode
            assert torch.equal(value, before[key]), key
        elif key.startswith("stage3") and not key.endswith("num_batches_tracked"):
            assert not torch.equal(value, before[key]), key
        assert skiplab_slot(module) is not None
    assert not any(getattr(e, "kind", "") == "vanishing" for e in events)
    init = events[0].init
    assert init["from"] == str(checkpoint) and init["head_new"] and init["frozen_params"] > 0
    assert len(init["sha256"]) == 64 and "5 outputs; this spec has 10 classes" in init["headline"]


def test_set_lr_scales_the_loaded_groups(checkpoint: Path) -> None:
    from engine.train.optim import set_lr

    loop = _Loop(SPEC, parse_config({**FAST, "steps": 2, "init_from": str(checkpoint), "loaded_lr_scale": 0.25}),
                 dataset("shapes", train_size=32, val_size=16, size=16))
    set_lr(loop.opt, 0.4)
    assert {g["lr"] for g in loop.opt.param_groups if g["loaded"]} == {0.1}
    assert {g["lr"] for g in loop.opt.param_groups if not g["loaded"]} == {0.4}


def test_frozen_layers_raise_no_vanishing_alert() -> None:
    layers = [Layer(i, f"l{i}", "conv2d", "s", 1, frozen=i < 2) for i in range(4)]
    grad = {"grad_norm": np.array([[0.0, 0.0, 0.5, 1.0]], dtype=np.float32)}
    cfg = parse_config({})
    assert HealthMonitor(layers, cfg).check([1], grad) == []
    unfrozen = [Layer(i, f"l{i}", "conv2d", "s", 1) for i in range(4)]
    assert [a.kind for a in HealthMonitor(unfrozen, cfg).check([1], grad)] == ["vanishing"]  # a real one


def test_bad_transfer_options_are_named() -> None:
    with pytest.raises(SpecError, match="config.freeze: freeze must be stem, stage1"):
        parse_config({"freeze": "layer2"})
    with pytest.raises(SpecError, match="set init_from"):
        parse_config({"new_head": True})
    with pytest.raises(SpecError, match="this spec has 3 stage"):
        _Loop(SPEC, parse_config({**FAST, "steps": 2, "freeze": "stage4"}),
              dataset("shapes", train_size=32, val_size=16, size=16))
    with pytest.raises(SkipLabError, match="names a run of a store"):
        _Loop(SPEC, parse_config({**FAST, "steps": 2, "init_from": "run:1"}),
              dataset("shapes", train_size=32, val_size=16, size=16))


def test_cli_fine_tunes_from_a_run_and_records_it(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    store = str(tmp_path / "runs.sqlite")
    common = ["--steps", "4", "--batch-size", "16", "--device", "cpu", "--store", store, "--quiet"]
    shapes = ["--dataset", "shapes", "--data", "size=16", "--data", "train_size=64", "--data", "val_size=32"]
    spec = tmp_path / "net.json"
    spec.write_text(json.dumps(SPEC))
    assert main(["train", str(spec), *shapes, *common]) == 0
    capsys.readouterr()
    # digits: one input channel (the stem's RGB filters are summed), other classes (a new head)
    digits = ["--dataset", "digits", "--data", "size=16", "--data", "val_fraction=0.9"]
    assert main(["train", str(spec), "--input", "1,16,16", *digits, *common, "--init-from", "run:1",
                 "--freeze", "stage1", "--new-head", "--json"]) == 0
    out = capsys.readouterr()
    result = json.loads(out.out)
    assert "initialised from run:1" in out.err and "adapt_input_conv" in out.err
    assert result["init"]["from"] == "run:1" and result["init"]["head_new"]
    run = RunStore(store).get_run(result["run_id"])
    assert run["config"]["init_from"] == "run:1" and run["config"]["freeze"] == "stage1"
    assert run["summary"]["init"]["path"].endswith("run-1.pt")
    layers = RunStore(store).get_layers(result["run_id"])
    assert [layer["name"] for layer in layers if layer.get("frozen")] == [
        "stem.conv", "stem.bn", "stage1.block0.conv1", "stage1.block0.bn1", "stage1.block0.conv2",
        "stage1.block0.bn2"]
    # bad input exits 2 before a run is recorded: a missing run, a checkpoint that maps nothing
    torch.save({"features.conv0.weight": torch.zeros(3)}, tmp_path / "other.pt")
    for source in ("run:99", str(tmp_path / "other.pt")):
        assert main(["train", str(spec), *shapes, *common, "--init-from", source]) == 2
    err = capsys.readouterr().err
    assert "no run 99" in err and "nothing in" in err and "Traceback" not in err
    assert len(RunStore(store).list_runs()) == 2
