"""Connectivity edits at scale: time to expand a spec with N edits, side by side with the same spec without
edits, for N = 300, 1,000 and 3,000. Prints one JSON object.

    python bench/edits.py

Goal (issue 14): edits apply in near-linear time, so a few thousand edits (well within every limit: the spec
loader's size bound and SKIPLAB_MAX_NODES) take seconds, not minutes, and cannot stall the Build page for
every session. ``per_edit_ratio`` is the cost of one edit at N = 3,000 over its cost at N = 300: 1 is linear,
10 would be quadratic (what the code before this bench measured: 400 edits 31 s, 200 edits 8.5 s).
"""

from __future__ import annotations

import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # `python bench/NAME.py` from a fresh clone: the engine is not installed

from engine.arch import expand, get_preset  # noqa: E402
from engine.spec import to_dict  # noqa: E402

SIZES = (300, 1000, 3000)


def spec_with_edits(n: int) -> dict[str, Any]:
    """resnet110 with n skips between neighbouring blocks (projection adapters; add and gate merges)."""
    base = to_dict(get_preset("resnet110"))
    blocks = [f"stage{s}.block{b}" for s in (1, 2, 3) for b in range(18)]
    edits = []
    for i in range(n):
        k = i % (len(blocks) - 1)
        edits.append({"add_skip": {"from": blocks[k], "to": blocks[k + 1], "adapter": "projection",
                                   "merge": "gate" if i % 5 == 4 else "add"}})
    return {**base, "edits": edits}


def median_s(spec: dict[str, Any], repeats: int = 3) -> tuple[float, int]:
    times, nodes = [], 0
    for _ in range(repeats):
        t0 = time.perf_counter()
        nodes = len(expand(spec).nodes)
        times.append(time.perf_counter() - t0)
    return statistics.median(times), nodes


def main() -> dict[str, Any]:
    base_s, base_nodes = median_s(spec_with_edits(0))
    rows = {}
    for n in SIZES:
        s, nodes = median_s(spec_with_edits(n))
        rows[str(n)] = {"seconds": round(s, 3), "nodes": nodes, "per_edit_ms": round(1000 * (s - base_s) / n, 3)}
    first, last = rows[str(SIZES[0])], rows[str(SIZES[-1])]
    return {"spec": "resnet110", "no_edits_s": round(base_s, 3), "no_edits_nodes": base_nodes, "edits": rows,
            "per_edit_ratio": round(last["per_edit_ms"] / max(first["per_edit_ms"], 1e-9), 2),
            "goal": "3,000 edits in seconds; per_edit_ratio near 1 (10 = quadratic)"}


if __name__ == "__main__":
    json.dump(main(), sys.stdout, indent=2)
    print()
