"""`python -m engine`: the DESIGN.md contract, and exit 2 with one paragraph (no traceback) on bad input."""

import json
import subprocess
import sys

import pytest

from engine.arch.presets import preset_names
from engine.cli import main
from tests.conftest import ROOT


def run_cli(capsys, *args):
    try:
        code = main(list(args))
    except SystemExit as exc:  # argparse's own usage errors
        code = exc.code
    out, err = capsys.readouterr()
    return code, out, err


def test_presets_lists_one_name_per_line(capsys):
    code, out, _ = run_cli(capsys, "presets")
    assert code == 0
    assert out.split() == preset_names()


def test_summary_table_shows_rollups_and_totals(capsys):
    code, out, _ = run_cli(capsys, "summary", "resnet50")
    assert code == 0
    assert "25,557,032 params" in out and "4.09 GMACs" in out
    for stage in ("stem", "stage1", "stage4", "head"):
        assert f"\n{stage} " in out


def test_summary_json_contract(capsys):
    code, out, _ = run_cli(capsys, "summary", "resnet20", "--json", "--batch", "4")
    assert code == 0
    data = json.loads(out)
    for key in ("name", "family", "input_shape", "output_shape", "params", "trainable_params", "macs", "flops",
                "memory", "nodes", "groups"):
        assert key in data
    assert data["params"] == 269_722 and data["macs"] == 4 * 40_551_040
    node = next(n for n in data["nodes"] if n["name"] == "stage2.block0.conv1")
    assert node["op"] == "conv2d" and node["out_shape"] == [32, 16, 16] and node["inputs"] == ["stage1.block2.relu2"]
    assert {g["name"] for g in data["groups"]} >= {"stem", "stage1", "stage1.block0", "head"}


def test_summary_of_a_spec_file_with_input_override(capsys, tmp_path):
    path = tmp_path / "net.yaml"
    path.write_text("family: resnet\nblock: bottleneck\nshortcut: B\nstages:\n  - {blocks: 1, width: 8}\n")
    code, out, _ = run_cli(capsys, "summary", str(path), "--input", "1,28,28", "--json")
    assert code == 0 and json.loads(out)["input_shape"] == [1, 28, 28]


BAD = [
    (["summary", "resnet9000"], "neither a preset nor a spec file"),
    (["summary", "missing.yaml"], "not found"),
    (["summary", "densenet121", "--input", "3,16,16"], "transition3.pool"),
    (["summary", "resnet18", "--input", "3,x,16"], "--input"),
    (["summary", "resnet18", "--batch", "0"], "positive integer"),
    (["summary"], "required"),
    (["frobnicate"], "invalid choice"),
]


@pytest.mark.parametrize(("argv", "words"), BAD)
def test_bad_input_exits_2_with_a_message(capsys, argv, words):
    code, _, err = run_cli(capsys, *argv)
    assert code == 2
    assert words in err and "Traceback" not in err
    assert err.count("\n") <= 2


@pytest.mark.parametrize(("content", "words"), [
    ("family: resnet\nstages: [{blocks: 1, width: -4}]\n", "stages[0].width: must be a positive integer, got -4"),
    ("family: resnet\nshortcut: Z\n", "shortcut: must be one of"),
    ("family: resnett\n", "unknown family 'resnett'"),
    ("family: resnet\nwidht: 3\n", "unknown key 'widht'"),
    ("family: resnet\n  stages: [\n", "malformed YAML"),
    ("family: densenet\ninput: [3, 16, 16]\n", "transition3.pool: the 1x1 map's height of 1 is too small"),
])
def test_bad_spec_files_in_a_real_process(tmp_path, content, words):
    """The real entry point: exit status 2, the message on stderr, nothing on stdout, no traceback."""
    path = tmp_path / "bad.yaml"
    path.write_text(content)
    proc = subprocess.run([sys.executable, "-m", "engine", "summary", str(path)], cwd=ROOT, capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 2, proc.stderr
    assert words in proc.stderr and "Traceback" not in proc.stderr and proc.stdout == ""
