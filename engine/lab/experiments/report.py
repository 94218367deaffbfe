"""The written conclusion every recipe ends with: what the runs show, each claim's verdict in words, the checks
that failed (a net that did not train), the runs that did not finish, and how the setup differs from the paper's."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from engine.lab.experiments.claims import HELD, INCONCLUSIVE, NOT_HELD, fmt, fmt_margin, verdict_counts


def claim_sentence(c: dict[str, Any]) -> str:
    """``'claim': held (mean 29.4 points ± 21.0 over 3 seeds; claimed > 0.0 points).`` The full evidence (per-seed
    values, the reason) goes with each claim in the results."""
    verdict = {HELD: "held", NOT_HELD: "did NOT hold", INCONCLUSIVE: "inconclusive"}[c["verdict"]]
    unit = c.get("unit", "")
    mean = fmt(c["mean"], unit) if c.get("mean") is not None else "n/a"
    spread = f" ± {fmt_margin(c['margin'], unit)}" if c.get("margin") is not None else ""
    side = ">" if c.get("direction") == "above" else "<"
    return (f"'{c['claim']}': {verdict} (mean {mean}{spread} over {c.get('n', 0)} seed(s); claimed {side} "
            f"{fmt(c.get('threshold', 0.0), unit)}).")


def conclusion(head: str, claims: Sequence[dict[str, Any]], setup: str, ctx: Any) -> str:
    parts = [head.strip()]
    failed_checks = [c for c in claims if c.get("check") and c["verdict"] != HELD]
    if failed_checks:
        parts.append("Checks that did not pass, so the claims resting on them are inconclusive: "
                     + " ".join(claim_sentence(c) for c in failed_checks))
    findings = [c for c in claims if not c.get("check")]
    if findings:
        n = verdict_counts(findings)
        parts.append(f"Claims: {n[HELD]} held, {n[NOT_HELD]} did not hold, {n[INCONCLUSIVE]} inconclusive.")
        parts.extend(claim_sentence(c) for c in findings)
    failed = [f"{r.plan.run_name} ({r.row.get('status')})" for r in getattr(ctx, "runs", []) if not r.ok]
    if failed:
        parts.append("Runs that did not finish: " + ", ".join(failed) + ".")
    if setup:
        parts.append(f"The defaults' setup, against the paper's (options given to this run override it): {setup}")
    return " ".join(parts)
