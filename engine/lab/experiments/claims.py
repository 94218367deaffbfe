"""Registered claims and their verdicts.

A recipe registers its claims in code, before any run: the published finding (with its source and what the paper
measured), the statistic we compute from each seed's runs, the threshold and the reason for that threshold. The
analysis only computes the per-seed values of each statistic; `judge` turns them into a verdict with one fixed rule:

- n seeds give n values of the statistic (paired: the runs of one seed share the init seed and the batch order).
- margin = t(0.95, n - 1) * sd / sqrt(n): the one-sided 95% Student-t bound on the mean (sd with ddof 1).
- "held" when the whole interval mean +- margin lies on the claimed side of the threshold, "did not hold" when it
  lies wholly on the other side, "inconclusive" otherwise, and always with a single seed (no spread to judge by).
- A claim that requires others (e.g. "the net trained at all") is inconclusive unless those held.

The rule was fixed before any of the recipes' final runs and is the same for every claim. Nothing here reads a
recipe's outcomes to choose a threshold.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any, Literal

HELD, NOT_HELD, INCONCLUSIVE = "held", "did not hold", "inconclusive"
VERDICTS = (HELD, NOT_HELD, INCONCLUSIVE)

# One-sided 95% quantiles of Student's t, by degrees of freedom (scipy.stats.t.ppf(0.95, df)); seeds <= 10.
T95 = {1: 6.3138, 2: 2.9200, 3: 2.3534, 4: 2.1318, 5: 2.0150, 6: 1.9432, 7: 1.8946, 8: 1.8595, 9: 1.8331}


@dataclass(frozen=True)
class Claim:
    """A claim as registered in a recipe. ``direction`` "above": held when the statistic exceeds ``threshold``."""

    key: str  # stable id, e.g. "plain_degrades"
    text: str  # the claim in words, as the student reads it
    source: str  # paper, section, figure
    paper_measured: str  # what the source measured (and on what)
    statistic: str  # what we compute per seed
    direction: Literal["above", "below"]
    threshold: float
    why: str  # why this threshold
    unit: str = ""  # how values print: "points" (x100), "log10", "" (plain)
    requires: tuple[str, ...] = ()  # keys of claims (usually "it trained" checks) that must hold first
    check: bool = False  # a precondition (did the net train?) rather than a finding of the paper

    def describe(self) -> dict[str, Any]:
        return asdict(self)


def margin(values: Sequence[float]) -> float:
    """The one-sided 95% t margin of the mean of ``values`` (inf for fewer than two)."""
    n = len(values)
    if n < 2:
        return math.inf
    mean = sum(values) / n
    sd = math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1))
    return T95.get(n - 1, 1.645) * sd / math.sqrt(n)


def fmt(value: float, unit: str) -> str:
    if not math.isfinite(value):
        return "n/a"
    if unit == "points":
        return f"{100 * value:.1f} points"
    if unit == "log10":
        return f"10^{value:.2f}"
    return f"{value:.3g}"


def fmt_margin(value: float, unit: str) -> str:
    """A spread in the statistic's unit (a log10 statistic's spread is in decades, not a power of ten)."""
    return f"{value:.2f} decades" if unit == "log10" else fmt(value, unit)


def judge(claim: Claim, values: Sequence[float | None], prior: Mapping[str, dict[str, Any]] | None = None,
          detail: str = "") -> dict[str, Any]:
    """The verdict on ``claim`` from its per-seed ``values`` (None / NaN: a seed whose runs gave no value)."""
    vals = [float(v) for v in values if v is not None and math.isfinite(float(v))]
    n = len(vals)
    mean = sum(vals) / n if n else math.nan
    m = margin(vals)
    lo, hi = mean - m, mean + m
    above = claim.direction == "above"
    blocked = [k for k in claim.requires if (prior or {}).get(k, {}).get("verdict") != HELD]
    if n == 0:
        verdict, reason = INCONCLUSIVE, "no seed produced a value"
    elif blocked:
        verdict = INCONCLUSIVE
        reason = "needs " + ", ".join(f"'{(prior or {}).get(k, {}).get('claim', k)}'" for k in blocked) + \
                 " to hold first"
    elif n < 2:
        verdict, reason = INCONCLUSIVE, "one seed has no spread to judge by; run 2 or more seeds"
    elif (lo > claim.threshold) if above else (hi < claim.threshold):
        verdict, reason = HELD, "the seeds' margin clears the threshold"
    elif (hi < claim.threshold) if above else (lo > claim.threshold):
        verdict, reason = NOT_HELD, "the seeds' margin clears the threshold on the wrong side"
    else:
        verdict, reason = INCONCLUSIVE, "the seeds' margin straddles the threshold"
    side = ">" if above else "<"
    per_seed = ", ".join(fmt(v, claim.unit) for v in vals)
    spread = f", margin ± {fmt_margin(m, claim.unit)}" if math.isfinite(m) else ""
    evidence = (f"{claim.statistic}: mean {fmt(mean, claim.unit)} over {n} seed(s) ({per_seed}{spread}); claimed "
                f"{side} {fmt(claim.threshold, claim.unit)}: {reason}")
    if detail:
        evidence += f". {detail}"
    return {"key": claim.key, "claim": claim.text, "source": claim.source, "verdict": verdict,
            "held": verdict == HELD, "check": claim.check, "mean": _num(mean), "margin": _num(m), "n": n,
            "values": vals, "threshold": claim.threshold, "direction": claim.direction, "unit": claim.unit,
            "evidence": evidence, "why": claim.why, "paper_measured": claim.paper_measured}


def judge_all(claims: Sequence[Claim], values: Mapping[str, Sequence[float | None]],
              details: Mapping[str, str] | None = None) -> list[dict[str, Any]]:
    """Verdicts in registration order (so a claim's requirements are judged before it); claims with no values
    (their runs are not part of this experiment's options) are left out."""
    out: dict[str, dict[str, Any]] = {}
    for c in claims:
        if c.key in values:
            out[c.key] = judge(c, values[c.key], out, (details or {}).get(c.key, ""))
    return list(out.values())


def _num(x: float) -> float | None:
    return x if math.isfinite(x) else None


def verdict_counts(results: Sequence[Mapping[str, Any]]) -> dict[str, int]:
    counts = {v: 0 for v in VERDICTS}
    for r in results:
        if not r.get("check"):
            counts[r["verdict"]] += 1
    return counts
