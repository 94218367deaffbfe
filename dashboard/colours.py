"""Colours shared by every drawing of an architecture (the Plotly strip and the graph view): one per op kind."""

from __future__ import annotations

KIND_COLOURS = {
    "conv": "#2f6fdf", "norm": "#9b59b6", "act": "#27ae60", "pool": "#e67e22", "merge": "#e74c3c",
    "linear": "#16a085", "reshape": "#7f8c8d", "shortcut": "#f1c40f", "reg": "#95a5a6", "io": "#34495e",
    "resize": "#d35400", "gate": "#c0392b", "embed": "#8e44ad", "attention": "#1abc9c",
}
DEFAULT_COLOUR = "#34495e"
STAGE_COLOURS = ["#2f6fdf", "#e67e22", "#27ae60", "#9b59b6", "#e74c3c", "#16a085", "#f1c40f", "#7f8c8d"]
ERROR_COLOUR = "#d62728"
SKIP_COLOUR = "#e67e22"

# Viridis at 9 stops (matplotlib's), for statistics painted on a log scale.
VIRIDIS = ["#440154", "#472d7b", "#3b528b", "#2c728e", "#21918c", "#28ae80", "#5ec962", "#addc30", "#fde725"]


def kind_colour(kind: str) -> str:
    return KIND_COLOURS.get(kind, DEFAULT_COLOUR)


def viridis(t: float) -> str:
    """The colour at t in [0, 1] (clamped), interpolated between the stops."""
    t = min(max(t, 0.0), 1.0) * (len(VIRIDIS) - 1)
    i = min(int(t), len(VIRIDIS) - 2)
    f = t - i
    a, b = VIRIDIS[i], VIRIDIS[i + 1]
    mix = [round(int(a[k:k + 2], 16) * (1 - f) + int(b[k:k + 2], 16) * f) for k in (1, 3, 5)]
    return "#" + "".join(f"{c:02x}" for c in mix)
