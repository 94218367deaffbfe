"""Colours of the graph view beyond the engine's per-kind ones (`engine.api.kind_colour`): errors, and the scale
painted statistics use."""

from __future__ import annotations

ERROR_COLOUR = "#d62728"

# Viridis at 9 stops (matplotlib's), for statistics painted on a log scale.
VIRIDIS = ["#440154", "#472d7b", "#3b528b", "#2c728e", "#21918c", "#28ae80", "#5ec962", "#addc30", "#fde725"]


def viridis(t: float) -> str:
    """The colour at t in [0, 1] (clamped), interpolated between the stops."""
    t = min(max(t, 0.0), 1.0) * (len(VIRIDIS) - 1)
    i = min(int(t), len(VIRIDIS) - 2)
    f = t - i
    a, b = VIRIDIS[i], VIRIDIS[i + 1]
    mix = [round(int(a[k:k + 2], 16) * (1 - f) + int(b[k:k + 2], 16) * f) for k in (1, 3, 5)]
    return "#" + "".join(f"{c:02x}" for c in mix)
