"""The transfer experiment end to end on tiny settings: one pretraining run, then digits runs that start from it
(resolved from the plan to the run's id), frozen linear probes, and claims computed from the runs."""

from __future__ import annotations

import json

import pytest

from engine.cli import main
from engine.core.errors import SpecError
from engine.lab.experiments import ExperimentStore, create_experiment, execute, get_experiment
from engine.lab.experiments.base import RunPlan
from engine.lab.experiments.depends import check_refs, from_plan, resolve
from engine.store import RunStore

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_transfer_end_to_end(tmp_path, capsys) -> None:
    store = str(tmp_path / "runs.sqlite")
    assert main(["experiment", "transfer", "--tiny", "--store", store, "--json", "--quiet"]) == 0
    res = json.loads(capsys.readouterr().out)
    assert res["status"] == "done"
    numbers = res["numbers"]
    assert set(numbers) == {"pretrain", "scratch", "finetune", "probe_pretrained", "probe_random"}
    rs = RunStore(store)
    runs = {r["label"]: rs.get_run(r["run_id"]) for r in ExperimentStore(store).get(res["id"])["runs"]}
    pre = runs["pretrain"]
    assert pre["config"]["dataset"] == "shapes" and pre["spec"]["input"][0] == 3
    for label in ("finetune", "probe_pretrained"):  # started from the pretraining run's final weights
        run = runs[label]
        assert run["config"]["init_from"] == f"run:{pre['id']}" and run["config"]["new_head"] is True
        init = run["summary"]["init"]
        assert init["path"] == pre["summary"]["weights_path"] and init["head_new"]
        assert "adapt_input_conv" in init["report"]  # RGB stem filters summed for the 1-channel digits
    assert "init" not in (runs["scratch"]["summary"] or {})
    probe_layers = rs.get_layers(runs["probe_pretrained"]["id"])
    assert [layer.get("frozen", False) for layer in probe_layers][-1] is False  # only the head trains
    assert sum(layer.get("frozen", False) for layer in probe_layers) == len(probe_layers) - 1
    assert not rs.get_alerts(runs["probe_pretrained"]["id"])  # frozen layers: no vanishing alert
    claims = {c["claim"].split(" ")[0]: c["held"] for c in res["claims"]}
    assert claims["fine-tuned"] == (numbers["finetune"]["val_acc"] > numbers["scratch"]["val_acc"])
    assert claims["the"] is not None and len(res["claims"]) == 3
    assert "SkipLab's own (no download)" in res["conclusion"]
    assert set(res["figures"]["val_acc"]) == {"scratch", "finetune", "probe_pretrained", "probe_random"}


def test_plan_references_must_name_an_earlier_run_and_wait_for_it() -> None:
    a = RunPlan("pretrain", 0, {}, {})
    b = RunPlan("finetune", 0, {}, {"init_from": from_plan("pretrain", 0)})
    check_refs([a, b])
    with pytest.raises(SpecError, match="not a run planned before it"):
        check_refs([b, a])

    class Store:
        def __init__(self, status: str | None) -> None:
            self.status = status

        def get_run(self, run_id: int) -> dict | None:
            return None if self.status is None else {"id": run_id, "status": self.status}

    records = [{"label": "pretrain", "seed": 0, "run_id": 7}]
    assert resolve(b.config, records, Store("running"))[0] == "wait"
    assert resolve(b.config, records, Store("diverged"))[0] == "blocked"
    assert resolve(b.config, records, Store("done")) == ("ready", {"init_from": "run:7"})
    assert resolve({"lr": 0.1}, records, Store(None)) == ("ready", {"lr": 0.1})


@pytest.mark.slow
def test_job_runner_starts_the_fine_tuning_runs_after_the_pretraining(tmp_path) -> None:
    store = str(tmp_path / "runs.sqlite")
    exp_id = create_experiment("transfer", get_experiment("transfer").tiny, store)
    assert execute(exp_id, store, jobs=2) is not None
    rs = RunStore(store)
    runs = {r["label"]: rs.get_run(r["run_id"]) for r in ExperimentStore(store).get(exp_id)["runs"]}
    assert all(r["status"] == "done" for r in runs.values())
    assert runs["finetune"]["created_at"] >= runs["pretrain"]["finished_at"]
