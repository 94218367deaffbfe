"""Cross-check: fvcore, FlopCounterMode and torchinfo reconciled with our numbers to the op (resnet50, the
classic U-Net), unexplained differences flagged, failures reported in the row, the summary CLI contract."""

import json

import pytest
import torch

import engine.analysis.crosscheck as cc_mod
import engine.analysis.toolrules as rules
from engine.analysis import analyze
from engine.analysis.crosscheck import crosscheck
from engine.api import expand
from engine.arch.presets import preset_names
from engine.cli import main
from engine.ir.graph import Graph
from tests.unet_graph import unet_spec

PRESETS = preset_names()


def _terms(row) -> dict[str, int]:
    return {t.label: t.value for t in row.terms}


@pytest.fixture(scope="module")
def resnet50():
    return crosscheck("resnet50")


def test_resnet50_fvcore_reconciles_to_the_op(resnet50):
    row = resnet50.row("fvcore")
    assert row.explained and row.residual == 0 and not row.mismatches
    assert row.total == 4_111_512_576  # REFERENCE.md: 4.1115 G
    assert _terms(row) == {rules.MACS: 4_089_184_256, "BN (eval) 2/element": 22_227_968,
                           "adaptive avgpool 1/input element": 100_352}
    skipped = {s.op: s for s in row.skipped}
    assert skipped["aten::max_pool2d"].calls == 1 and skipped["aten::max_pool2d"].nodes == ["stem.pool"]
    assert skipped["aten::add"].calls == 16 and len(skipped["aten::add"].nodes) == 16
    assert "BN (eval) 2/element 22,227,968" in row.reconciliation


def test_resnet50_flop_counter_and_torchinfo(resnet50):
    a = analyze(expand("resnet50"))
    fwd, train = resnet50.row("flop_counter"), resnet50.row("flop_counter_train")
    assert fwd.explained and fwd.total == 2 * a.macs
    assert train.explained and train.total == 24_299_077_632
    assert f"{a.flops:,}" in fwd.ours  # our FLOPs = the tool + the element-wise work, by op
    info = resnet50.row("torchinfo")
    assert info.explained and info.total == 4_089_238_376
    assert _terms(info) == {rules.MACS: 4_089_184_256, "norm gamma and beta, once per sample": 53_120,
                            "linear bias, once per sample": 1_000}
    assert resnet50.row("torchinfo_params").total == 25_557_032
    assert resnet50.explained
    data = resnet50.to_json()
    json.dumps(data)
    assert data["explained"] is True and {r["tool"] for r in data["rows"]} >= {"fvcore", "torchinfo"}


@pytest.mark.slow
def test_classic_unet_reconciles_transposed_convs():
    """REFERENCE.md: torchinfo counts the U-Net at 13.66 G vs 12.04 G, the up-convs counted at output
    positions (x4); explained by the transposed conv's own torchinfo rule."""
    result = crosscheck(unet_spec())
    assert result.explained, [r.reconciliation for r in result.rows]
    info = _terms(result.row("torchinfo"))
    assert result.row("torchinfo").total == 13_662_449_152
    assert info[rules.MACS] == 12_041_846_784
    assert info["ConvTranspose2d: weights x output (not input) positions"] == 3 * 536_870_912
    assert info["conv bias, 1 per output element"] == 9_977_856
    fv = result.row("fvcore")
    assert _terms(fv)[rules.MACS] == 12_041_846_784
    assert {s.op for s in fv.skipped} == {"aten::max_pool2d"}  # the concat skips are ignored silently


@pytest.mark.slow
@pytest.mark.parametrize("name", ["unet", "densenet121", "transformer_tiny", "highway_mlp50", "unet_small"])
def test_family_presets_reconcile_with_every_tool(name):
    if name not in PRESETS:
        pytest.skip(f"preset {name!r} is not registered on this branch (its family is built elsewhere)")
    result = crosscheck(name)
    assert result.explained, [r.reconciliation for r in result.rows if not r.explained]
    if name == "unet":  # REFERENCE.md: torchinfo 13.66 G vs 12.04 G, the up-convs counted at output positions
        assert result.row("torchinfo").total == 13_662_449_152 and result.macs == 12_041_846_784
        assert "ConvTranspose2d: weights x output (not input) positions" in _terms(result.row("torchinfo"))


@pytest.mark.parametrize("name", PRESETS)
def test_every_preset_reconciles_torchinfo(name):
    """torchinfo on the meta device is cheap: every preset's mult-adds and params explained to the op."""
    result = crosscheck(name, tools=("torchinfo",))
    assert result.explained, result.row("torchinfo").reconciliation
    assert result.row("torchinfo_params").total == result.params


def test_unexplained_difference_is_flagged(scratch_ops):
    """Drop batchnorm2d's fvcore rule (in a scratch registry): fvcore's BN count is no longer predicted, so the
    row says so, node by node."""
    scratch_ops.replace("batchnorm2d", fvcore=None)
    result = crosscheck("resnet8", tools=("fvcore",))
    row = result.row("fvcore")
    bn = sum(2 * 16 * 32 * 32 if r.name.startswith(("stem", "stage1")) else 0
             for r in analyze(expand("resnet8")).nodes if r.op == "batchnorm2d")
    assert not row.explained and not result.explained
    assert row.residual > bn > 0
    assert "unexplained" in row.reconciliation
    assert {m.node for m in row.mismatches} >= {"stem.bn", "stage1.block0.bn1"}


def test_grouped_conv_weight_gradient_overcount_is_explained():
    g = Graph((8, 8, 8), name="grouped")
    g.add("conv1", "conv2d", "input", out_channels=8)
    g.add("conv2", "conv2d", "conv1", out_channels=8, groups=4)
    result = crosscheck(g, tools=("flop_counter",))
    train = result.row("flop_counter_train")
    assert train.explained, train.reconciliation
    assert _terms(train)["grouped-conv dW counted x groups by flop_counter"] == 2 * (8 * 2 * 9 * 64) * 3


def test_a_failing_tool_is_reported_not_raised(monkeypatch):
    def boom(graph):
        raise RuntimeError("no CPU for you")

    monkeypatch.setattr(cc_mod, "_counting_model", boom)
    result = crosscheck("resnet8", tools=("fvcore", "torchinfo"))
    row = result.row("fvcore")
    assert row.total is None and not row.explained and "no CPU for you" in row.error
    assert result.row("torchinfo").explained
    with pytest.raises(ValueError, match="valid: fvcore"):
        crosscheck("resnet8", tools=("thop",))


def test_summary_cli_crosscheck_json(capsys):
    assert main(["summary", "resnet8", "--batch", "2", "--dtype", "float16", "--crosscheck", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    for key in ("flops", "backward_flops", "memory", "crosscheck"):
        assert key in data
    assert data["crosscheck"]["explained"] is True
    assert data["memory"]["params_bytes"] == 2 * data["params"]
    assert main(["summary", "resnet8", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["crosscheck"] is None
    assert main(["summary", "resnet8", "--crosscheck"]) == 0
    text = capsys.readouterr().out
    assert "every difference explained" in text and "training memory" in text
    with pytest.raises(SystemExit) as exit_info:  # argparse rejects it before the command runs
        main(["summary", "resnet8", "--dtype", "int4"])
    assert exit_info.value.code == 2


def test_isolated_crosscheck_leaves_the_server_process_alone():
    """The dashboard runs the cross-check in a child: threads, logger levels and warning filters of the server
    process (shared by every session) stay as they were, and the numbers equal an in-process run."""
    import logging
    import warnings

    from engine.api import crosscheck as api_crosscheck

    threads = torch.get_num_threads()
    levels = {n: logging.getLogger(n).level for n in ("fvcore", "fvcore.nn.jit_analysis", "torchinfo")}
    filters = list(warnings.filters)
    isolated = api_crosscheck("resnet8", isolate=True, tools=("flop_counter",))
    assert torch.get_num_threads() == threads
    assert {n: logging.getLogger(n).level for n in levels} == levels
    assert list(warnings.filters) == filters
    here = api_crosscheck("resnet8", tools=("flop_counter",))
    def key(check):
        return [(r.tool, r.total, r.explained) for r in check.rows]

    assert key(isolated) == key(here)


def test_isolated_crosscheck_reports_bad_input_as_a_message():
    from engine.api import SpecError
    from engine.api import crosscheck as api_crosscheck

    with pytest.raises(SpecError, match="unknown cross-check tool"):
        api_crosscheck("resnet8", isolate=True, tools=("nope",))
