"""Plain-text formatting of analyses for the CLI (the dashboard formats its own tables)."""

from __future__ import annotations

from engine.analysis import Analysis
from engine.errors import fmt_shape


def si(value: float, unit: str = "") -> str:
    """4089184256 -> '4.09 G'."""
    for factor, prefix in ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "K")):
        if abs(value) >= factor:
            return f"{value / factor:.2f} {prefix}{unit}"
    return f"{value:g} {unit}".rstrip()


def table(rows: list[list[str]], header: list[str], right: set[int] | None = None) -> str:
    right = right if right is not None else set(range(1, len(header)))
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
        wanted = 1 if level == "stage" else 2
        groups = [g for g in a.groups if g.level == wanted or (wanted == 2 and g.level == 1 and not any(
            h.level == 2 and h.name.startswith(g.name + ".") for h in a.groups))]
        rows = [[g.name, str(g.nodes), f"{g.params:,}", f"{100 * g.params / max(a.params, 1):.1f}%", si(g.macs),
                 f"{100 * g.macs / max(a.macs, 1):.1f}%"] for g in groups]
        body = table(rows, [level, "nodes", "params", "% params", "MACs", "% MACs"])
    title = f"{a.name or a.family} ({a.family}) input {fmt_shape(a.input_shape)} -> output {fmt_shape(a.output_shape)}"
    totals = (f"total: {a.params:,} params ({si(a.params)}), {si(a.macs)}MACs, {si(a.flops)}FLOPs "
              f"(forward, batch {a.batch}), depth {a.depth}, "
              f"parameter memory {si(a.memory['params_bytes'], 'B')}")
    return "\n".join([title, "", body, "", totals])
