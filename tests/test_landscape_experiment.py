"""The `landscape` experiment: registered claims, the tiny recipe end to end, and verdicts from the seeds' spread
(data that contradicts a claim makes it fail)."""

from __future__ import annotations

from engine.lab.experiments import create_experiment, execute, get_experiment
from engine.lab.experiments.claims import HELD, INCONCLUSIVE, NOT_HELD, judge_all
from engine.lab.experiments.exp_landscape import claim_values, registered_claims
from engine.store.landscapes import LandscapeStore
from tests.train_helpers import one_torch_thread  # noqa: F401 - autouse fixture


def _surface(nonconvex: float, toward: float, ratio: float) -> dict:
    return {"measures": {"nonconvex_fraction": nonconvex, "toward_center_fraction": toward},
            "hessian": {"ratio_mean": ratio}}


def _shatter(plain: float, resnet: float) -> dict:
    return {"nets": [{"lag1": plain}, {"lag1": resnet}]}


def _verdicts(per_seed, shatters) -> dict[str, str]:
    values = claim_values(per_seed, shatters, "plain56", "resnet56")
    return {c["key"]: c["verdict"] for c in judge_all(registered_claims(56), values)}


def test_claims_are_registered_with_source_threshold_and_reason():
    exp = get_experiment("landscape")
    claims = registered_claims(56)
    assert {c.key for c in claims} >= {"plain_more_nonconvex", "plain_not_toward_center", "plain_hessian_ratio",
                                       "plain_shattered"}
    assert all(c.source and c.why and c.statistic for c in claims)
    assert exp.parse_options({}).depth == 56  # Li et al.: where the non-convexity shows


def test_verdicts_follow_the_seeds():
    trained = {"plain56_error": 0.1, "resnet56_error": 0.05}
    agree = {s: {**trained, "plain56": _surface(0.4 + s / 100, 0.6, 0.5), "resnet56": _surface(0.02, 0.97, 0.1)}
             for s in range(3)}
    v = _verdicts(agree, {s: _shatter(0.1, 0.8 + s / 100) for s in range(3)})
    assert v["plain_more_nonconvex"] == v["plain_not_toward_center"] == v["plain_hessian_ratio"] == HELD
    assert v["plain_shattered"] == HELD
    contra = {s: {**trained, "plain56": _surface(0.01, 0.99, 0.05), "resnet56": _surface(0.3 + s / 100, 0.5, 0.6)}
              for s in range(3)}
    v = _verdicts(contra, {s: _shatter(0.9, 0.1 + s / 100) for s in range(3)})
    assert v["plain_more_nonconvex"] == v["plain_hessian_ratio"] == v["plain_shattered"] == NOT_HELD
    one_seed = {0: agree[0]}
    assert _verdicts(one_seed, {0: _shatter(0.1, 0.8)})["plain_more_nonconvex"] == INCONCLUSIVE
    untrained = {s: {**e, "plain56_error": 0.9} for s, e in agree.items()}
    assert _verdicts(untrained, {s: _shatter(0.1, 0.8) for s in range(3)})["plain_more_nonconvex"] == INCONCLUSIVE


def test_tiny_experiment_end_to_end(store_path):
    exp = get_experiment("landscape")
    exp_id = create_experiment("landscape", {**exp.tiny, "device": "cpu"}, store_path)
    results = execute(exp_id, store_path)
    assert {c["key"] for c in results["claims"]} == {c.key for c in registered_claims(8)}
    assert all(c["verdict"] in (HELD, NOT_HELD, INCONCLUSIVE) for c in results["claims"])
    assert set(results["figures"]["surfaces"]) == {"plain8", "resnet8"}
    assert results["figures"]["shatter"]["nets"]
    assert "plain8 vs resnet8" in results["conclusion"]
    # the surfaces are stored with their runs (the Landscape and Compare pages show them)
    run_ids = [r["run_id"] for r in results["runs"]]
    assert all(LandscapeStore(store_path).latest(i, dim=2) for i in run_ids)
