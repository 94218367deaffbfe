"""The fuzz properties of tests/test_fuzz.py at a larger scale, random rather than derandomized: how many inputs
each property saw, how many broke it, and how long it took. Prints one JSON object.

    python bench/hardening.py               # scale 10: about 6,500 inputs in a minute (CI: scale 1, derandomized)
    python bench/hardening.py --scale 50    # a longer campaign

A failing input is printed by pytest (hypothesis shrinks it first) and counted under "failed"; the exit status
is pytest's (0: every input gave a model, an analysis or a clear SpecError / ShapeError).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--scale", type=int, default=10, help="multiplies every property's example count (CI: 1)")
    p.add_argument("-k", default="", help="pytest -k expression to pick properties")
    args = p.parse_args()
    os.environ["SKIPLAB_FUZZ_SCALE"] = str(args.scale)  # read by tests/test_fuzz.py at import
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

    import pytest

    seen: dict[str, Counter] = defaultdict(Counter)

    def count(observation, _thread_id: int) -> None:  # noqa: ANN001 - hypothesis' TestCaseObservation
        if getattr(observation, "type", None) == "test_case":
            prop = str(observation.property).rsplit("::", 1)[-1]
            seen[prop][str(observation.status)] += 1

    class Counting:
        """Registers the counter once pytest has loaded hypothesis (importing it earlier defeats pytest's
        assertion rewriting of the plugin)."""

        @staticmethod
        def pytest_configure(config) -> None:  # noqa: ANN001, ARG004
            from hypothesis.internal import observability

            # One observation per generated input (hypothesis >= 6.130). No line coverage: tracing every line
            # makes the slow inputs (a 512 KB paste) many times slower and trips the per-example time bound.
            observability.OBSERVABILITY_COLLECT_COVERAGE = False
            observability.add_observability_callback(count, all_threads=True)

    t0 = time.perf_counter()
    argv = [str(ROOT / "tests" / "test_fuzz.py"), "-q", "-p", "no:cacheprovider", "-x"]
    if args.k:
        argv += ["-k", args.k]
    code = pytest.main(argv, plugins=[Counting()])
    wall = time.perf_counter() - t0
    per_property = {k: dict(v) for k, v in sorted(seen.items())}
    from tests.fuzz_strategies import NASTY_YAML  # the hand-written texts, run once each beside the properties

    print(json.dumps({
        "scale": args.scale,
        "wall_s": round(wall, 1),
        "inputs": sum(v.get("passed", 0) + v.get("failed", 0) for v in seen.values()),
        "failed": sum(v.get("failed", 0) for v in seen.values()),
        "discarded": sum(v.get("gave_up", 0) for v in seen.values()),  # drawn, then rejected by the strategy
        "hand_written_texts": len(NASTY_YAML),
        "per_property": per_property,
        "pytest_exit": int(code),
    }, indent=2))
    return int(code)


if __name__ == "__main__":
    raise SystemExit(main())
