"""Plain-text formatting of analyses for the CLI (the dashboard formats its own tables)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from engine.analysis import Analysis
from engine.core.text import fmt_shape, printable, si

if TYPE_CHECKING:
    from engine.analysis.compare import Comparison
    from engine.analysis.crosscheck import CrossCheck


def table(rows: list[list[str]], header: list[str], right: set[int] | None = None) -> str:
    right = right if right is not None else set(range(1, len(header)))
    rows = [[printable(c, 200) for c in r] for r in rows]  # node and block names are user text
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]

    def line(r: list[str]) -> str:
        return "  ".join(str(c).rjust(w) if i in right else str(c).ljust(w) for i, (c, w) in
                         enumerate(zip(r, widths, strict=True))).rstrip()

    return "\n".join([line(header), line(["-" * w for w in widths]), *(line(r) for r in rows)])


def summary_text(a: Analysis, level: str = "stage") -> str:
    """A readable summary: per-stage (or per-block / per-node) rows, then totals."""
    if level == "node":
        rows = [[n.name, n.op, fmt_shape(n.out_shape), f"{n.params:,}", si(n.macs)] for n in a.nodes]
        body = table(rows, ["node", "op", "output", "params", "MACs"], right={3, 4})
    else:
        groups = a.rollup("stage" if level == "stage" else "block")
        rows = [[g.name, str(g.nodes), f"{g.params:,}", f"{100 * g.params / max(a.params, 1):.1f}%", si(g.macs),
                 f"{100 * g.macs / max(a.macs, 1):.1f}%"] for g in groups]
        body = table(rows, [level, "nodes", "params", "% params", "MACs", "% MACs"])
    title = (f"{printable(a.name or a.family)} ({a.family}) input {fmt_shape(a.input_shape)} -> output "
             f"{fmt_shape(a.output_shape)}")
    totals = (f"total: {a.params:,} params ({si(a.params)}), {si(a.macs)}MACs, {si(a.flops)}FLOPs "
              f"(forward, batch {a.batch}), depth {a.depth}, "
              f"parameter memory {si(a.memory['params_bytes'], 'B')}")
    return "\n".join([title, "", body, "", totals, *training_lines(a)])


def training_lines(a: Analysis) -> list[str]:
    """Backward FLOPs, training memory and the shortcut share, one line each."""
    m = a.memory
    lines = [
        f"training step: {si(a.flops)}FLOPs forward + {si(a.backward_flops)}FLOPs backward "
        f"= {si(a.training_flops)}FLOPs (batch {a.batch})",
        f"training memory ({a.dtype}, batch {a.batch}): params {si(m['params_bytes'], 'B')} + grads "
        f"{si(m['grads_bytes'], 'B')} + saved activations {si(m['saved_activations_bytes'], 'B')} + optimizer "
        f"(SGD momentum {si(m['optimizer_sgd_momentum_bytes'], 'B')} | AdamW {si(m['optimizer_adamw_bytes'], 'B')})"
        f" = {si(m['training_sgd_momentum_bytes'], 'B')} | {si(m['training_adamw_bytes'], 'B')}; "
        f"inference peak activations {si(m['inference_peak_bytes'], 'B')}",
    ]
    short = a.attribution.get("shortcut", {})
    if short.get("nodes"):
        lines.append(f"shortcut paths: {short['params']:,} params ({100 * short['params'] / max(a.params, 1):.1f}%), "
                     f"{si(short['macs'])}MACs ({100 * short['macs'] / max(a.macs, 1):.1f}%) on {short['nodes']} "
                     "nodes, apart from the residual branches")
    return lines


def crosscheck_text(cc: CrossCheck) -> str:
    """The libraries side by side with SkipLab, then each reconciliation."""
    rows = [[r.tool, f"{r.total:,}" if r.total is not None else "failed", f"{r.predicted:,}", f"{r.residual:,}",
             "yes" if r.explained else "NO", f"{r.seconds:.2f}s"] for r in cc.rows]
    lines = [table(rows, ["tool", "total", "predicted from SkipLab", "unexplained", "explained", "time"]), ""]
    for r in cc.rows:
        lines.append(r.reconciliation if not r.error else f"{r.tool}: failed: {r.error}")
        if r.skipped:
            lines.append("  skipped: " + ", ".join(
                f"{s.op} x{s.calls} (SkipLab counts {s.our_flops:,} FLOPs there)" for s in r.skipped))
        if r.ours:
            lines.append("  " + r.ours)
        for mm in r.mismatches[:5]:
            lines.append(f"  differs at {mm.node}: tool {mm.tool:,}, predicted {mm.ours:,}")
    verdict = "every difference explained" if cc.explained else "UNEXPLAINED differences (see above)"
    lines.append(f"\ncross-check of {printable(cc.name)}: {verdict}, {cc.seconds:.2f}s")
    return "\n".join(lines)


def compare_text(c: Comparison, level: str = "stage") -> str:
    """A per-stage (or per-block) diff table, then the totals."""
    wanted = {"stage": (1,), "block": (1, 2)}[level]

    def sd(v: int, unit: str = "") -> str:
        return ("+" if v > 0 else "") + si(v, unit) if v else "0"

    rows = [[("  " if r.level == 2 else "") + r.name + (f" (only {r.only_in.upper()})" if r.only_in else ""),
             si(r.a["params"]), si(r.b["params"]), sd(r.delta["params"]), si(r.a["macs"]), si(r.b["macs"]),
             sd(r.delta["macs"]), si(r.a["saved_bytes"], "B"), si(r.b["saved_bytes"], "B"),
             sd(r.delta["saved_bytes"], "B")] for r in c.rows if r.level in wanted]
    body = table(rows, [level, "params A", "params B", "delta", "MACs A", "MACs B", "delta", "saved A",
                        "saved B", "delta"])
    tot = [[r.name, f"{r.a['value']:,}", f"{r.b['value']:,}", f"{r.delta['value']:+,}"] for r in c.totals]
    head = (f"A = {printable(c.a_name)}, B = {printable(c.b_name)} (batch {c.batch}, {c.dtype}; saved = activations "
            "kept for backward)")
    return "\n".join([head, "", body, "", table(tot, ["total", "A", "B", "B - A"])])
