"""Architecture diff per stage and block, and the `compare` CLI."""

import json

from engine.analysis import analyze
from engine.analysis.compare import compare
from engine.api import expand
from engine.cli import main


def test_resnet34_vs_resnet50():
    c = compare("resnet34", "resnet50")
    a, b = analyze(expand("resnet34")), analyze(expand("resnet50"))
    assert c.row("params").delta["value"] == b.params - a.params == 3_759_360
    assert c.row("macs").delta["value"] == b.macs - a.macs
    # each side's stage row is the sum of that net's own stage3 nodes, counted here independently
    stage3 = c.row("stage3")
    assert stage3.a["params"] == sum(n.params for n in a.nodes if n.name.startswith("stage3.")) == 6_822_400
    assert stage3.b["params"] == sum(n.params for n in b.nodes if n.name.startswith("stage3.")) == 7_098_368
    for level in (1, 2):  # both rollups cover every node of both nets
        assert sum(r.a["params"] for r in c.rows if r.level == level) == a.params
        assert sum(r.b["params"] for r in c.rows if r.level == level) == b.params
    assert c.row("stem").delta == {"params": 0, "macs": 0, "flops": 0, "saved_bytes": 0}


def test_plain_vs_residual_twin_and_one_sided_blocks():
    c = compare("plain20", "resnet20")
    assert all(r.delta["params"] == 0 and r.delta["macs"] == 0 for r in c.rows)  # option A: free shortcuts
    assert c.row("flops").delta["value"] > 0  # the residual adds
    d = compare("resnet18", "resnet34", batch=4, dtype="float16")
    assert d.row("stage1.block2").only_in == "b" and d.row("stage1.block2").a["params"] == 0
    assert d.batch == 4 and d.dtype == "float16"
    assert d.row("saved_activations_bytes").a["value"] == analyze(expand("resnet18"), batch=4,
                                                                  dtype="float16").memory["saved_activations_bytes"]


def test_compare_cli(capsys):
    assert main(["compare", "resnet18", "resnet34", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["a_name"] == "resnet18" and data["b_name"] == "resnet34"
    assert any(r["name"] == "stage3" for r in data["rows"])
    assert main(["compare", "resnet20", "resnet56", "--level", "block"]) == 0
    out = capsys.readouterr().out
    assert "stage1.block8 (only B)" in out and "params" in out
    assert main(["compare", "resnet20", "no_such_net"]) == 2
    assert "no_such_net" in capsys.readouterr().err
