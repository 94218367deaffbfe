"""Checkpoint layouts: state_dicts laid out exactly as torchvision's resnet18 / resnet50 and the CIFAR reference
ResNets (made here by reference models with those module names; nothing is downloaded) map 100% onto SkipLab's
presets and compute the same outputs; a wrong architecture gets a report that says what does not fit and why."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from engine.arch import load_spec
from engine.cli import main
from engine.export.checkpoints import adapt_input_conv, check_init, load_checkpoint
from engine.export.layouts import LAYOUTS, Slot, detect_layout, skiplab_slot, split_key
from engine.export.weights import WeightsError
from engine.spec import to_dict
from tests import ref_resnets as ref

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _spec(name: str, **changes: object) -> dict:
    return {**to_dict(load_spec(name)), **changes}


def _save(model: torch.nn.Module, path: Path) -> Path:
    torch.save(model.state_dict(), path)
    return path


def _same_outputs(reference: torch.nn.Module, model: torch.nn.Module, shape: tuple[int, ...]) -> None:
    x = torch.randn(2, *shape, generator=torch.Generator().manual_seed(0))
    reference.eval()
    model.eval()
    with torch.no_grad():
        want, got = reference(x), model(x)
    assert got.shape == want.shape
    torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("name", ["resnet18", "resnet50"])
def test_torchvision_layout_maps_completely_and_computes_the_same(tmp_path: Path, name: str) -> None:
    torch.manual_seed(0)
    reference = ref.randomise_bn(getattr(ref, name)())
    keys = set(reference.state_dict())
    assert {"conv1.weight", "bn1.running_var", "layer1.0.conv1.weight", "layer2.0.downsample.0.weight",
            "layer2.0.downsample.1.num_batches_tracked", "fc.weight", "fc.bias"} <= keys
    report = load_checkpoint(name, _save(reference, tmp_path / f"{name}.pth"))
    assert report.layout == "torchvision" and report.complete, report.text()
    assert len(report.loaded) == len(keys) == report.n_model  # every key of both sides, one to one
    assert report.to_json()["mapping"]["layer2.0.downsample.0.weight"] == "stage2.block0.shortcut.conv.weight"
    assert report.to_json()["mapping"]["fc.bias"] == "head.fc.bias"
    _same_outputs(reference, report.model, (3, 64, 64))


def test_timm_checkpoint_in_safetensors_with_a_wrapper_prefix(tmp_path: Path) -> None:
    st = pytest.importorskip("safetensors.torch", reason="the safetensors extra is not installed")
    reference = ref.randomise_bn(ref.resnet18())
    st.save_file({f"module.{k}": v.contiguous() for k, v in reference.state_dict().items()},
                 str(tmp_path / "model.safetensors"))
    report = load_checkpoint("resnet18", tmp_path / "model.safetensors")
    assert report.complete and report.stripped_prefix == "module." and report.format == "safetensors"
    _same_outputs(reference, report.model, (3, 64, 64))


def test_cifar_reference_layouts_map_completely_and_compute_the_same(tmp_path: Path) -> None:
    # akamaster resnet20: option A shortcuts have no parameters; checkpoints are saved as {"state_dict": ...}
    # of a DataParallel model, hence the "module." prefix.
    aka = ref.randomise_bn(ref.AkamasterResNet([3, 3, 3]))
    wrapped = {f"module.{k}": v for k, v in aka.state_dict().items()}
    torch.save({"epoch": 200, "best_prec1": 91.7, "state_dict": wrapped}, tmp_path / "resnet20.th")
    report = load_checkpoint("resnet20", tmp_path / "resnet20.th")
    assert report.layout == "cifar" and report.complete and report.nested_key == "state_dict", report.text()
    _same_outputs(aka, report.model, (3, 32, 32))
    # kuangliu ResNet (3x3 stem to 64, projections shortcut.0 / .1 where the shape changes), one block per stage
    kuang = ref.randomise_bn(ref.KuangliuResNet([1, 1, 1, 1]))
    spec = {"family": "resnet", "input": [3, 32, 32], "num_classes": 10, "stem": "cifar", "shortcut": "B",
            "stages": [{"blocks": 1, "width": w} for w in (64, 128, 256, 512)]}
    report = load_checkpoint(spec, _save(kuang, tmp_path / "ckpt.pth"))
    assert report.layout == "cifar" and report.complete, report.text()
    assert report.to_json()["mapping"]["layer3.0.shortcut.1.running_mean"] == "stage3.block0.shortcut.bn.running_mean"
    _same_outputs(kuang, report.model, (3, 32, 32))


def test_a_new_head_is_named_and_everything_else_loads(tmp_path: Path) -> None:
    reference = ref.randomise_bn(ref.resnet18())
    report = load_checkpoint(_spec("resnet18", num_classes=10), _save(reference, tmp_path / "r18.pth"))
    assert report.head_new and not report.complete and report.body_complete
    assert report.head_reason == "the checkpoint's fc has 1000 outputs; this spec has 10 classes: the head will be new"
    assert report.head_reason in report.text().splitlines()[0]
    assert {k for k, _ in report.skipped} == {"fc.weight", "fc.bias"}
    assert {k for k, _ in report.new} == {"head.fc.weight", "head.fc.bias"}
    got = report.model.state_dict()
    assert torch.equal(got["stage4.block1.bn2.running_var"], reference.state_dict()["layer4.1.bn2.running_var"])
    assert report.suggested_spec is None  # the body fits: no other spec to suggest
    # new_head also renews a head whose shape fits
    report = load_checkpoint("resnet18", tmp_path / "r18.pth", new_head=True)
    assert report.head_new and "new_head" in report.head_reason and len(report.loaded) == len(got) - 2


def test_wrong_architecture_gets_a_clear_report(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = _save(ref.resnet50(num_classes=10), tmp_path / "r50.pth")
    report = load_checkpoint(_spec("resnet18", num_classes=10), path)
    assert not report.complete and report.layout == "torchvision"
    text = report.text()
    assert "checkpoint: bottleneck blocks [3, 4, 6, 3]" in text and "this spec:  basic blocks [2, 2, 2, 2]" in text
    assert "the checkpoint's blocks are bottleneck, this spec's are basic" in text
    assert "stage1 of this spec has 2 block(s); block 2 has no place" in text
    assert "the classifier reads 2048 features in the checkpoint, 512 in this spec" in text
    assert report.suggested_spec is not None and report.suggested_spec["name"] == "resnet50"
    assert "(the layout of the preset resnet50)" in text
    # only the stem is shared: it loads whole, no block tensor does
    assert {skiplab_slot(split_key(k)[0]).part for k in report.loaded_keys} == {"stem"}
    # the CLI prints the report (exit 0); --strict refuses the partial map (exit 2, no traceback)
    assert main(["load-weights", "resnet18", str(path), "--num-classes", "10"]) == 0
    assert "the checkpoint's blocks are bottleneck" in capsys.readouterr().out
    assert main(["load-weights", "resnet18", str(path), "--num-classes", "10", "--strict"]) == 2
    err = capsys.readouterr().err
    assert "does not map completely" in err and "Traceback" not in err
    assert main(["load-weights", "resnet18", str(path), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["layout"] == "torchvision" and not data["complete"] and data["checkpoint"]["block"] == "bottleneck"


def test_a_checkpoint_that_is_not_a_resnet_maps_nothing(tmp_path: Path) -> None:
    torch.save({"features.conv0.weight": torch.zeros(64, 3, 7, 7), "classifier.weight": torch.zeros(10, 1024)},
               tmp_path / "densenet.pth")
    report = load_checkpoint("resnet8", tmp_path / "densenet.pth")
    assert report.layout is None and not report.loaded_keys
    assert "no known ResNet layout places it" in report.text()
    with pytest.raises(WeightsError, match="nothing in .* maps onto this spec"):
        check_init("resnet8", tmp_path / "densenet.pth")


def test_stem_filters_are_adapted_to_other_input_channels(tmp_path: Path) -> None:
    reference = ref.randomise_bn(ref.AkamasterResNet([1, 1, 1]))
    report = load_checkpoint(_spec("resnet8", input=[1, 32, 32]), _save(reference, tmp_path / "r8.pth"))
    assert [(s, d) for s, d, _ in report.adapted] == [("conv1.weight", "stem.conv.weight")]
    assert "adapt_input_conv" in report.text() and report.complete
    rgb = reference.state_dict()["conv1.weight"]
    assert torch.allclose(report.model.state_dict()["stem.conv.weight"], rgb.sum(1, keepdim=True))
    # a gray image repeated over RGB gives the RGB net's output: summing the filters is exact there
    gray = torch.randn(2, 1, 32, 32)
    reference.eval()
    with torch.no_grad():
        torch.testing.assert_close(report.model.eval()(gray), reference(gray.repeat(1, 3, 1, 1)), rtol=1e-4, atol=1e-5)
    assert adapt_input_conv(rgb, 6).shape[1] == 6


def test_skiplab_runs_map_by_their_own_names_and_deeper_specs_keep_new_blocks(tmp_path: Path) -> None:
    from engine.api import build_model

    path = _save(build_model("resnet20", seed=3), tmp_path / "run.pt")
    assert load_checkpoint("resnet20", path).complete
    report = load_checkpoint("resnet32", path)
    assert report.layout == "skiplab" and not report.skipped and len(report.loaded) == 116
    assert "the checkpoint's stage 1 has 3 block(s): this block is new" in report.text()


def test_one_function_reads_skiplab_names_and_every_layout_agrees_on_slots() -> None:
    assert skiplab_slot("stage2.block0.shortcut.conv") == Slot("block", 2, 0, "shortcut.conv")
    assert skiplab_slot("head.fc") == Slot("head", role="fc") and skiplab_slot("stage1.block0.add") is None
    tv, cifar = LAYOUTS.get("torchvision"), LAYOUTS.get("cifar")
    assert tv.slot("layer3.1.downsample.1") == cifar.slot("layer3.1.shortcut.1") == Slot("block", 3, 1, "shortcut.bn")
    assert tv.slot("fc") == cifar.slot("linear") == skiplab_slot("head.fc")
    assert detect_layout(["conv1.weight", "layer1.0.conv1.weight", "linear.weight"])[0].name == "cifar"
    assert detect_layout(["conv1.weight", "layer1.0.conv1.weight", "fc.weight"])[0].name == "torchvision"
