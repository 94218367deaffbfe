"""The `landscape` experiment: registered claims, the tiny recipe end to end, and verdicts from the seeds' spread
(data that contradicts a claim makes it fail)."""

from __future__ import annotations

from types import SimpleNamespace

from engine.lab.experiments import create_experiment, execute, get_experiment
from engine.lab.experiments.claims import HELD, INCONCLUSIVE, NOT_HELD, judge_all
from engine.lab.experiments.exp_landscape import claim_values, conclusion, registered_claims
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
    assert {c.key for c in claims} == {"plain56_trains", "resnet56_trains", "plain_more_nonconvex",
                                       "plain_not_toward_center", "plain_hessian_ratio", "plain_shattered"}
    assert all(c.source and c.why and c.statistic and c.paper_measured for c in claims)
    assert exp.claims == claims and exp.setup and exp.paper  # registered with the recipe, before any run
    assert exp.parse_options({}).depth == 56  # Li et al.: where the non-convexity shows
    assert exp.parse_options(exp.paper).dataset == "cifar10"  # the publication's settings are valid options


TRAINED = {"plain56_error": 0.1, "resnet56_error": 0.05}
FINDINGS = {"plain_more_nonconvex", "plain_not_toward_center", "plain_hessian_ratio", "plain_shattered"}


def test_every_finding_holds_on_li_and_balduzzi_and_fails_on_the_opposite():
    agree = {s: {**TRAINED, "plain56": _surface(0.4 + s / 100, 0.6, 0.5), "resnet56": _surface(0.02, 0.97, 0.1)}
             for s in range(3)}
    v = _verdicts(agree, {s: _shatter(0.1, 0.8 + s / 100) for s in range(3)})
    assert set(v.values()) == {HELD}, v  # the two checks and the four findings
    contra = {s: {**TRAINED, "plain56": _surface(0.01, 0.99, 0.05), "resnet56": _surface(0.3 + s / 100, 0.5, 0.6)}
              for s in range(3)}
    v = _verdicts(contra, {s: _shatter(0.9, 0.1 + s / 100) for s in range(3)})
    assert {k: v[k] for k in FINDINGS} == dict.fromkeys(FINDINGS, NOT_HELD), v


def test_each_finding_fails_alone_when_only_its_own_data_contradicts_it():
    base = {"plain": (0.4, 0.6, 0.5), "resnet": (0.02, 0.97, 0.1), "lag1": (0.1, 0.8)}
    flips = {"plain_more_nonconvex": ("plain", 0, 0.0, "resnet", 0, 0.5),
             "plain_not_toward_center": ("plain", 1, 0.99, "resnet", 1, 0.4),
             "plain_hessian_ratio": ("plain", 2, 0.05, "resnet", 2, 0.7)}
    for key, (n1, i1, v1, n2, i2, v2) in flips.items():
        nets = {k: list(v) for k, v in base.items()}
        nets[n1][i1], nets[n2][i2] = v1, v2
        per_seed = {s: {**TRAINED, "plain56": _surface(nets["plain"][0] + s / 100, *nets["plain"][1:]),
                        "resnet56": _surface(*nets["resnet"])} for s in range(3)}
        v = _verdicts(per_seed, {s: _shatter(0.1, 0.8 + s / 100) for s in range(3)})
        assert v[key] == NOT_HELD and all(v[k] == HELD for k in FINDINGS - {key}), (key, v)
    same = {s: {**TRAINED, "plain56": _surface(0.4 + s / 100, 0.6, 0.5), "resnet56": _surface(0.02, 0.97, 0.1)}
            for s in range(3)}
    v = _verdicts(same, {s: _shatter(0.8 + s / 100, 0.1) for s in range(3)})
    assert v["plain_shattered"] == NOT_HELD and all(v[k] == HELD for k in FINDINGS - {"plain_shattered"})


def test_a_net_that_did_not_train_fails_its_check_and_leaves_the_findings_inconclusive():
    agree = {s: {"plain56_error": 0.9 - s / 100, "resnet56_error": 0.05,
                 "plain56": _surface(0.4 + s / 100, 0.6, 0.5), "resnet56": _surface(0.02, 0.97, 0.1)} for s in range(3)}
    v = _verdicts(agree, {s: _shatter(0.1, 0.8 + s / 100) for s in range(3)})
    assert v["plain56_trains"] == NOT_HELD and v["resnet56_trains"] == HELD
    assert all(v[k] == INCONCLUSIVE for k in FINDINGS - {"plain_shattered"})  # read around an untrained point
    assert v["plain_shattered"] == HELD  # measured at initialisation: it needs no training
    claims = judge_all(registered_claims(56), claim_values(agree, {s: _shatter(0.1, 0.8) for s in range(3)},
                                                           "plain56", "resnet56"))
    opts = get_experiment("landscape").parse_options({})
    text = conclusion(claims, opts, SimpleNamespace(runs=[]))
    assert "plain56 did not clearly train" in text and "resnet56 did not" not in text  # said plainly, first
    assert text.index("did not clearly train") < text.index("Check")


def test_one_seed_is_inconclusive():
    one = {0: {**TRAINED, "plain56": _surface(0.4, 0.6, 0.5), "resnet56": _surface(0.02, 0.97, 0.1)}}
    assert set(_verdicts(one, {0: _shatter(0.1, 0.8)}).values()) == {INCONCLUSIVE}


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
