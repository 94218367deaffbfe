"""Registered claims: the verdict rule (seed margin, one seed, requirements) and, for every claim of every
experiment, per-seed data made to support it gives "held" and data made to contradict it gives "did not hold"
(each recipe's own `claim_values` turns the synthetic measurements into the claim statistics)."""

from __future__ import annotations

import math

import pytest

from engine.lab.experiments import exp_degradation, exp_gradients, exp_lesion, exp_share, exp_unet, get_experiment
from engine.lab.experiments.claims import HELD, INCONCLUSIVE, NOT_HELD, Claim, judge, judge_all, margin

UP = Claim("up", "x is positive", "a paper", "x", "x", "above", 0.0, "a direction")


def test_verdicts_need_the_seed_margin_to_clear_the_threshold() -> None:
    assert judge(UP, [0.10, 0.12, 0.11])["verdict"] == HELD
    assert judge(UP, [-0.10, -0.12, -0.11])["verdict"] == NOT_HELD
    noisy = judge(UP, [0.30, -0.10, 0.05])  # mean 0.083 > 0, but the spread swamps it
    assert noisy["verdict"] == INCONCLUSIVE and "straddles" in noisy["evidence"]
    one = judge(UP, [0.5])
    assert one["verdict"] == INCONCLUSIVE and "one seed" in one["evidence"]
    assert judge(UP, [None, float("nan")])["verdict"] == INCONCLUSIVE
    # two seeds: t(0.95, 1) = 6.31, so the margin is 6.31 * sd / sqrt(2)
    assert math.isclose(margin([1.0, 3.0]), 6.3138 * math.sqrt(2) / math.sqrt(2))
    down = Claim("down", "x is small", "a paper", "x", "x", "below", 1.0, "why")
    assert judge(down, [0.2, 0.3])["verdict"] == HELD and judge(down, [2.0, 2.1])["verdict"] == NOT_HELD


def test_a_claim_whose_requirement_failed_is_inconclusive() -> None:
    check = Claim("trains", "it trains", "src", "m", "error", "below", 0.8, "why", check=True)
    finding = Claim("gap", "a gap", "src", "m", "d", "above", 0.0, "why", requires=("trains",))
    out = judge_all([check, finding], {"trains": [0.9, 0.89], "gap": [0.2, 0.21]})
    assert [c["verdict"] for c in out] == [NOT_HELD, INCONCLUSIVE]
    assert "it trains" in out[1]["evidence"]
    out = judge_all([check, finding], {"trains": [0.1, 0.12], "gap": [0.2, 0.21]})
    assert [c["verdict"] for c in out] == [HELD, HELD]


def _verdicts(claims, values) -> dict[str, str]:  # noqa: ANN001
    return {c["key"]: c["verdict"] for c in judge_all(claims, values)}


SEEDS = (0, 1, 2)


def _jitter(x: float, i: int) -> float:
    return x + 0.002 * (i - 1)  # three seeds that agree closely


def test_degradation_claims_hold_on_he_et_al_and_fail_on_the_opposite() -> None:
    claims = exp_degradation.registered_claims(20, 56)

    def errors(p20: float, p56: float, r20: float, r56: float) -> dict:
        return {k: {s: _jitter(v, s) for s in SEEDS}
                for k, v in (("plain20", p20), ("plain56", p56), ("resnet20", r20), ("resnet56", r56))}

    paper = _verdicts(claims, exp_degradation.claim_values(errors(0.10, 0.25, 0.08, 0.05), 20, 56))
    assert set(paper.values()) == {HELD}, paper
    # deeper plain nets train better, deeper residual nets worse, residual worse than plain: every finding fails
    opposite = _verdicts(claims, exp_degradation.claim_values(errors(0.25, 0.10, 0.05, 0.30), 20, 56))
    assert all(opposite[k] == NOT_HELD for k in ("plain_degrades", "resnet_deeper_better", "shortcuts_close_gap",
                                                 "resnet_beats_plain_deep")), opposite
    # plain56 at chance: the 'degradation' of a net that never trained is not He et al.'s finding
    untrained = _verdicts(claims, exp_degradation.claim_values(errors(0.10, 0.89, 0.08, 0.05), 20, 56))
    assert untrained["plain56_trains"] == NOT_HELD
    assert untrained["plain_degrades"] == INCONCLUSIVE and untrained["shortcuts_close_gap"] == INCONCLUSIVE


def _grad_seeds(log_ratio: float, acc: float) -> dict[int, dict[str, float]]:
    return {s: {"log_ratio": _jitter(log_ratio, s), "val_acc": _jitter(acc, s)} for s in SEEDS}


def test_gradient_claims_hold_on_the_sources_and_fail_on_the_opposite() -> None:
    claims = exp_gradients.CLAIMS
    paper = {"plain/default": _grad_seeds(-19.0, 0.10), "plain/he": _grad_seeds(0.1, 0.90),
             "plain/batch": _grad_seeds(4.0, 0.90), "residual/default": _grad_seeds(-0.3, 0.95)}
    assert set(_verdicts(claims, exp_gradients.claim_values(paper)).values()) == {HELD}
    opposite = {"plain/default": _grad_seeds(0.0, 0.95), "plain/he": _grad_seeds(-6.0, 0.10),
                "plain/batch": _grad_seeds(-6.0, 0.90), "residual/default": _grad_seeds(-8.0, 0.10)}
    assert set(_verdicts(claims, exp_gradients.claim_values(opposite)).values()) == {NOT_HELD}


def _study(base: float, single: list[tuple[bool, float | None]], k_acc: list[float]) -> dict:
    """A lesion study: (downsampling, accuracy with that block deleted) per block; accuracy per k in 1, 2, 3."""
    blocks = [{"block": f"b{i}", "removable": acc is not None, "residual": True, "downsampling": down, "acc": acc}
              for i, (down, acc) in enumerate(single)]
    return {"base_acc": base, "blocks": blocks, "k": [1, 2, 3][:len(k_acc)], "k_mean": k_acc, "k_std": [0.0] * 3}


def test_lesion_claims_hold_on_veit_et_al_and_fail_on_the_opposite() -> None:
    claims = exp_lesion.registered_claims(8, 8)
    chance = 0.1

    def per_seed(res: dict, plain: dict) -> dict:
        return {"resnet8": {s: exp_lesion.study_values(res, chance) for s in SEEDS},
                "plain8": {s: exp_lesion.study_values(plain, chance) for s in SEEDS}}

    res = _study(0.9, [(False, 0.88), (True, 0.80), (True, 0.75)], [0.85, 0.75, 0.6])
    plain = _study(0.9, [(False, 0.1), (True, None), (True, None)], [0.1])
    assert set(_verdicts(claims, exp_lesion.claim_values(per_seed(res, plain), 8, 8)).values()) == {HELD}
    res_bad = _study(0.9, [(False, 0.15), (True, 0.89), (True, 0.88)], [0.12, 0.11, 0.1])
    plain_bad = _study(0.9, [(False, 0.89), (True, None), (True, None)], [0.89])
    opposite = _verdicts(claims, exp_lesion.claim_values(per_seed(res_bad, plain_bad), 8, 8))
    assert all(opposite[k] == NOT_HELD for k in ("single_deletion_minor", "plain_deletion_fatal",
                                                 "downsampling_costs_more", "smooth_degradation")), opposite


def test_unet_claims_hold_on_ronneberger_et_al_and_fail_on_the_opposite() -> None:
    def seeds(iou: float, boundary: float, interior: float) -> dict:
        return {s: {"iou": _jitter(iou, s), "boundary_acc": _jitter(boundary, s), "interior_acc": interior}
                for s in SEEDS}

    paper = {"concat": seeds(0.95, 0.90, 0.99), "none": seeds(0.80, 0.60, 0.97)}
    assert set(_verdicts(exp_unet.CLAIMS, exp_unet.claim_values(paper)).values()) == {HELD}
    opposite = {"concat": seeds(0.80, 0.60, 0.99), "none": seeds(0.95, 0.90, 0.97)}
    assert set(_verdicts(exp_unet.CLAIMS, exp_unet.claim_values(opposite)).values()) == {NOT_HELD}


def test_share_claims_hold_when_the_shortcut_dominates_and_fail_when_the_branch_does() -> None:
    assert set(_verdicts(exp_share.CLAIMS, exp_share.claim_values(
        {s: [0.6 + 0.01 * s, 0.7, 0.8] for s in SEEDS})).values()) == {HELD}
    assert set(_verdicts(exp_share.CLAIMS, exp_share.claim_values(
        {s: [0.2 + 0.01 * s, 0.3, 0.4] for s in SEEDS})).values()) == {NOT_HELD}


@pytest.mark.parametrize("name", ["degradation", "gradients", "lesion", "shortcut_share", "unet_skips"])
def test_every_experiment_registers_sourced_claims_and_paper_settings(name: str) -> None:
    exp = get_experiment(name)
    assert exp.claims and exp.setup and exp.paper
    for c in exp.claims:
        assert c.source and c.why and c.paper_measured and c.statistic and c.direction in ("above", "below")
    exp.parse_options(exp.paper)  # the publication's settings are valid options


def test_docs_page_lists_the_registered_claims() -> None:
    from pathlib import Path

    from engine.lab.experiments.docs import document

    page = Path(__file__).resolve().parents[1] / "docs" / "experiments.md"
    assert page.read_text() == document(), "regenerate: python -m engine.lab.experiments.docs > docs/experiments.md"
