"""Experiments: the measurements (shortcut share, lesions, gradient ratios) on nets where the answer is known, and
each experiment end to end from the CLI on tiny settings, checking the computed quantities."""

from __future__ import annotations

import json
import math

import pytest
import torch

from engine.api import expand
from engine.build import build
from engine.cli import main
from engine.core.errors import SpecError
from engine.ir.residual import find_blocks
from engine.lab.experiments import ExperimentStore, cancel, create_experiment, execute, get_experiment
from engine.lab.experiments.lesion import accuracy, lesion_study, lesioned
from engine.store import RunStore
from engine.train.probes.shortcut_share import shortcut_share
from engine.train.trainer import train

TINY_RESNET = {"family": "resnet", "input": [3, 16, 16], "num_classes": 10,
               "stages": [{"blocks": 2, "width": 4}, {"blocks": 2, "width": 8}]}


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _zero_branch(model: torch.nn.Module, block: str) -> None:
    with torch.no_grad():
        model.get_submodule(f"{block}.bn2").weight.zero_()
        model.get_submodule(f"{block}.bn2").bias.zero_()
        model.get_submodule(f"{block}.conv2").weight.zero_()


def test_shortcut_share_is_one_for_a_zeroed_branch_and_between_for_the_others() -> None:
    graph = expand(TINY_RESNET)
    model = build(graph, seed=0).train()
    _zero_branch(model, "stage1.block1")
    x, y = torch.randn(8, 3, 16, 16), torch.randint(0, 10, (8,))
    share = shortcut_share(model, graph, x, y, torch.nn.functional.cross_entropy)
    assert list(share) == ["stage1.block0", "stage1.block1", "stage2.block0", "stage2.block1"]
    assert share["stage1.block1"] == 1.0
    for block in ("stage1.block0", "stage2.block0", "stage2.block1"):
        assert 0.0 < share[block] < 1.0


def test_probes_do_not_change_training() -> None:
    from tests.train_helpers import dataset

    data = dataset("shapes", train_size=32, val_size=16, size=16)
    cfg = {"steps": 5, "batch_size": 8, "val_every": 0, "act_every": 0, "device": "cpu", "log_every": 1}

    def losses(extra: dict) -> tuple[list[float], dict]:
        out, probes = [], {}
        for ev in train(TINY_RESNET, {**cfg, **extra}, dataset=data):
            values = getattr(ev, "values", {})
            if "loss" in values:
                out.append(values["loss"])
            probes.update({(ev.step, k): v for k, v in values.items() if k.startswith("shortcut_share:")})
        return out, probes

    plain, _ = losses({})
    probed, probes = losses({"probes": ["shortcut_share"], "probe_every": 2})
    assert plain == probed  # same trajectory: the probe restores BN statistics and the random state
    assert sorted({s for s, _ in probes}) == [0, 2, 4, 5]  # init, every 2 steps, the end
    assert all(0.0 <= v <= 1.0 for v in probes.values())


def test_lesion_of_an_identity_block_is_flat_and_plain_downsampling_blocks_are_not_removable() -> None:
    graph = expand(TINY_RESNET)
    model = build(graph, seed=0).eval()
    _zero_branch(model, "stage1.block1")
    x, y = torch.randn(40, 3, 16, 16), torch.randint(0, 10, (40,))
    blocks = {b.name: b for b in find_blocks(graph)}
    with torch.no_grad():
        intact = model(x)
        assert torch.equal(lesioned(model, [blocks["stage1.block1"]])(x), intact)
        assert not torch.allclose(lesioned(model, [blocks["stage1.block0"]])(x), intact)
    study = lesion_study(model, graph, x, y, draws=2)
    single = {b["block"]: b["acc"] for b in study["blocks"]}
    assert single["stage1.block1"] == study["base_acc"] == accuracy(model, x, y)
    assert study["n_removable"] == 4 and study["k"] == [1, 2, 3, 4]

    plain_graph = expand({**TINY_RESNET, "shortcut": "none"})
    plain = build(plain_graph, seed=0).eval()
    pstudy = lesion_study(plain, plain_graph, x, y, draws=2)
    removable = {b["block"]: b["removable"] for b in pstudy["blocks"]}
    assert removable == {"stage1.block0": True, "stage1.block1": True, "stage2.block0": False,
                         "stage2.block1": True}
    assert [b["acc"] is None for b in pstudy["blocks"]] == [False, False, True, False]
    assert pstudy["k"] == [1, 2, 3]


def _cli(capsys: pytest.CaptureFixture, store: str, *args: str) -> dict:
    assert main(["experiment", *args, "--store", store, "--json", "--quiet", "--jobs", "0"]) == 0
    return json.loads(capsys.readouterr().out)


def test_degradation_end_to_end(tmp_path, capsys) -> None:
    store = str(tmp_path / "runs.sqlite")
    res = _cli(capsys, store, "degradation", "--tiny")
    assert res["status"] == "done"
    numbers = res["numbers"]
    assert set(numbers) == {"plain8", "plain14", "resnet8", "resnet14"}
    assert all(math.isfinite(n["final_loss"]) for n in numbers.values())
    claims = {c["key"]: c for c in res["claims"]}
    assert set(claims) == {"plain8_trains", "plain14_trains", "resnet8_trains", "resnet14_trains", "plain_degrades",
                           "resnet_deeper_better", "shortcuts_close_gap", "resnet_beats_plain_deep"}
    assert all(c["verdict"] in ("held", "did not hold", "inconclusive") and c["n"] == 2 for c in claims.values())
    by_seed = {k: n["train_error_by_seed"] for k, n in numbers.items()}
    gap = [by_seed["plain14"][s] - by_seed["plain8"][s] for s in ("0", "1")]
    assert claims["plain_degrades"]["values"] == pytest.approx(gap)  # the statistic is the paired difference
    band = res["figures"]["loss"]["resnet14"]
    assert band["steps"][-1] == 4 and len(band["mean"]) == len(band["steps"])
    assert "the paper's" in res["conclusion"]
    # the runs are ordinary runs of the store (the Runs and Compare pages list them)
    runs = RunStore(store).list_runs()
    assert len(runs) == 8 and all(r["status"] == "done" and r["name"].startswith("degradation #") for r in runs)


def test_a_run_trained_before_is_reused_not_retrained(tmp_path, capsys, monkeypatch) -> None:
    from engine.lab.experiments import reuse

    store = str(tmp_path / "runs.sqlite")
    args = ("unet_skips", "--tiny", "--set", "merges=[concat, none]")
    first = _cli(capsys, store, *args)
    runs = RunStore(store).list_runs()
    assert len(runs) == 4 and all(r["summary"]["code_version"] == reuse.code_version() for r in runs)
    second = _cli(capsys, store, *args)
    assert len(RunStore(store).list_runs()) == 4  # nothing trained again
    assert [r["run_id"] for r in second["runs"]] == [r["run_id"] for r in first["runs"]]
    assert second["numbers"] == first["numbers"]
    assert all(r.get("reused") for r in ExperimentStore(store).get(second["id"])["runs"])
    _cli(capsys, store, *args, "--seeds", "3")  # one more seed: the shared ones are reused, the new one trains
    assert len(RunStore(store).list_runs()) == 6
    _cli(capsys, store, *args, "--retrain")  # asked to retrain
    assert len(RunStore(store).list_runs()) == 10
    monkeypatch.setattr(reuse, "code_version", lambda: "another-version")  # the code changed
    _cli(capsys, store, *args)
    assert len(RunStore(store).list_runs()) == 14


def test_progress_weights_runs_by_their_cost_and_gives_an_eta(tmp_path) -> None:
    from engine.lab.experiments import progress
    from engine.lab.experiments.cost import eta_seconds, run_costs

    store = str(tmp_path / "runs.sqlite")
    exp_id = create_experiment("degradation", get_experiment("degradation").tiny, store)
    rec = ExperimentStore(store).get(exp_id)
    costs = dict(zip([r["label"] for r in rec["runs"]], run_costs(rec["runs"]), strict=True))
    assert costs["plain14"] > 1.5 * costs["plain8"]  # more blocks, more work per step
    p = progress(exp_id, store)
    assert p["fraction"] == 0.0 and p["eta_s"] is None and p["runs_total"] == 8
    execute(exp_id, store)
    p = progress(exp_id, store)
    assert p["status"] == "done" and p["fraction"] == pytest.approx(1.0) and p["elapsed_s"] > 0
    assert eta_seconds(10.0, 1.0, 3.0) == pytest.approx(30.0) and eta_seconds(0.5, 1.0, 3.0) is None


def test_gradients_at_depth_50_plain_ratio_vanishes_with_default_init_not_with_he(tmp_path, capsys) -> None:
    store = str(tmp_path / "runs.sqlite")
    res = _cli(capsys, store, "gradients", "--steps", "2", "--seeds", "2", "--set", "connections=[none, residual]",
               "--set", "conditions=[default, he]")
    n = res["numbers"]
    assert set(n) == {"plain/default", "plain/he", "residual/default", "residual/he"}
    assert n["plain/default"]["ratio_init"] < 1e-6  # default init, no norm: the gradient is gone by the first layer
    assert 1e-1 < n["plain/he"]["ratio_init"] < 1e1  # He et al. 2015 eq. 14: preserved
    assert 1e-2 < n["residual/default"]["ratio_init"] < 1e2
    claims = {c["key"]: c for c in res["claims"]}
    assert claims["plain_default_vanishes"]["verdict"] == "held"
    assert "plain_bn_explodes" not in claims  # no BatchNorm variant in this run: its claims are left out
    assert len(res["figures"]["profile_init"]["plain/default"]) == 50  # one value per linear layer
    assert any(a["kind"] == "vanishing" and a["step"] == 1 for a in res["figures"]["alerts"]["plain/default"])


def test_lesion_end_to_end(tmp_path, capsys) -> None:
    store = str(tmp_path / "runs.sqlite")
    res = _cli(capsys, store, "lesion", "--tiny")
    single = res["figures"]["single"]
    assert single["resnet8"]["removable"] == [True, True, True]
    assert single["resnet8"]["downsampling"] == [False, True, True]
    assert single["plain8"]["removable"] == [True, False, False]  # stage 2 and 3 open with a stride-2 block
    assert single["plain8"]["acc"][1] is None
    assert res["figures"]["k"]["resnet8"]["k"] == [1, 2, 3] and res["figures"]["k"]["plain8"]["k"] == [1]
    paths = res["figures"]["paths"]
    assert paths["length"] == [0, 1, 2, 3] and math.isclose(sum(paths["fraction"]), 1.0)
    assert paths["fraction"] == [1 / 8, 3 / 8, 3 / 8, 1 / 8]
    assert {c["key"] for c in res["claims"]} >= {"single_deletion_minor", "plain_deletion_fatal"}


def test_shortcut_share_end_to_end_with_zero_init_starts_at_one(tmp_path, capsys) -> None:
    store = str(tmp_path / "runs.sqlite")
    res = _cli(capsys, store, "shortcut_share", "--tiny", "--set", "zero_init_residual=true")
    heat = res["figures"]["heatmap"]
    assert heat["blocks"] == ["stage1.block0", "stage2.block0", "stage3.block0"]
    assert heat["steps"] == [0, 2, 4]
    assert [row[0] for row in heat["share"]] == [1.0, 1.0, 1.0]  # every branch starts switched off
    for row in heat["share"]:
        assert all(0.0 <= v <= 1.0 for v in row)
    gs, gb = res["figures"]["shortcut_grad"], res["figures"]["branch_grad"]
    assert math.isclose(heat["share"][0][-1], gs[0][-1] / (gs[0][-1] + gb[0][-1]), rel_tol=1e-6)


def test_unet_skips_end_to_end(tmp_path, capsys) -> None:
    store = str(tmp_path / "runs.sqlite")
    res = _cli(capsys, store, "unet_skips", "--tiny")
    f = res["figures"]
    assert set(f["samples"]) == {"concat", "add", "none"}
    pred = f["samples"]["none"]
    assert len(pred) == 2 and len(pred[0]) == 16 and len(pred[0][0]) == 16
    assert all(0.0 <= p <= 1.0 for row in pred[0] for p in row)
    assert len(f["images"][0][0][0]) == 3 and set(v for row in f["masks"][0] for v in row) <= {0, 1}
    assert all(0.0 <= n["val_iou"] <= 1.0 for n in res["numbers"].values())


def test_bad_options_are_clear_errors(tmp_path, capsys) -> None:
    store = str(tmp_path / "runs.sqlite")
    with pytest.raises(SpecError, match=r"options\.depht.*valid options"):
        create_experiment("lesion", {"depht": 20}, store)
    with pytest.raises(SpecError, match="6n \\+ 2"):
        create_experiment("lesion", {"depth": 21}, store)
    assert main(["experiment", "nope", "--store", store]) == 2
    assert "valid experiments: degradation" in capsys.readouterr().err
    assert main(["experiment", "degradation", "--set", "dataset=cifar10", "--store", store]) == 2
    assert "data_path" in capsys.readouterr().err
    assert main(["experiment", "lesion", "--paper", "--store", store]) == 2  # the paper's CIFAR-10 is not built in
    assert "never downloads" in capsys.readouterr().err
    assert main(["experiment", "lesion", "--paper", "--tiny", "--store", store]) == 2
    assert "--tiny and --paper" in capsys.readouterr().err


def test_cancelled_experiment_does_not_start_and_list_shows_it(tmp_path, capsys) -> None:
    store = str(tmp_path / "runs.sqlite")
    exp_id = create_experiment("gradients", get_experiment("gradients").tiny, store)
    assert cancel(exp_id, store) == "cancelled"
    assert execute(exp_id, store) is None
    assert RunStore(store).list_runs() == []
    assert main(["experiment", "--list", "--store", store]) == 0
    assert f"#{exp_id}" in capsys.readouterr().out


@pytest.mark.slow
def test_job_runner_path_runs_the_probe_in_a_child_process(tmp_path) -> None:
    store = str(tmp_path / "runs.sqlite")
    exp_id = create_experiment("shortcut_share", get_experiment("shortcut_share").tiny, store)
    results = execute(exp_id, store, jobs=1)
    assert results is not None and len(results["figures"]["heatmap"]["blocks"]) == 3
    rec = ExperimentStore(store).get(exp_id)
    assert rec["status"] == "done" and rec["results"]["conclusion"].startswith("resnet8")
    run = RunStore(store).get_run(rec["runs"][0]["run_id"])
    assert run["status"] == "done" and run["pid"] != __import__("os").getpid()
