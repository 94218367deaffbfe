"""IR analysis vs the counting libraries, timed side by side in one run. Prints one JSON object.

Run ``python bench/analysis.py [preset]`` (default resnet152). Goals (issue 5): the IR
analysis at least 20x faster than the fastest library and under 50 ms; the full cross-check (fvcore +
FlopCounterMode forward and backward + torchinfo + reconciliation) under 3 s on a 2-core CPU.

Every timing is the median of a few repeats after one warm-up, except ``crosscheck_cold_s``: the first
cross-check in a fresh process, which also pays one-time costs (torch's meta kernels and
decompositions, fvcore's imports, oneDNN kernel setup).
"""

from __future__ import annotations

import gc
import json
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # `python bench/NAME.py` from a fresh clone: the engine is not installed

import torch  # noqa: E402

from engine.analysis import analyze  # noqa: E402
from engine.api import expand  # noqa: E402
from engine.build import build, example_input  # noqa: E402


def median_s(fn: Callable[[], Any], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main(name: str = "resnet152") -> dict[str, Any]:
    from engine.analysis.crosscheck import _counting_model, _one_thread, _quiet, crosscheck

    t0 = time.perf_counter()
    check = crosscheck(name)  # first: pays the one-time costs
    cold = time.perf_counter() - t0

    graph = expand(name)

    def fvcore() -> int:
        from fvcore.nn import FlopCountAnalysis

        with _quiet(), _one_thread():  # as the cross-check runs it
            fa = FlopCountAnalysis(_counting_model(graph), example_input(graph, 1))
            fa.unsupported_ops_warnings(False)
            fa.uncalled_modules_warnings(False)
            return int(fa.total())

    def flop_counter() -> int:
        from torch.utils.flop_counter import FlopCounterMode

        model = build(graph, "meta")
        with FlopCounterMode(display=False) as fc:
            model(example_input(graph, 1, "meta"))
        return fc.get_total_flops()

    def torchinfo_() -> int:
        import torchinfo

        with _quiet():
            return torchinfo.summary(build(graph, "meta"), input_data=[example_input(graph, 1, "meta")],
                                     device="meta", verbose=0).total_mult_adds

    for fn in (fvcore, flop_counter, torchinfo_):
        fn()  # warm-up
    gc.collect()  # start every series from the same heap
    ir = median_s(lambda: analyze(graph), 30)
    spec_to_ir = median_s(lambda: analyze(expand(name)), 10)
    meta = median_s(lambda: build(graph, "meta"), 5)
    gc.collect()
    libs = {"fvcore_s": median_s(fvcore, 3), "flop_counter_s": median_s(flop_counter, 3),
            "torchinfo_s": median_s(torchinfo_, 3)}
    warm = median_s(lambda: crosscheck(name), 3)
    fastest = min(libs, key=libs.get)
    return {
        "model": name,
        "torch_threads": torch.get_num_threads(),
        "cpus": os.cpu_count(),
        "load_avg_1min": round(os.getloadavg()[0], 2),
        "ir_analyze_ms": round(ir * 1e3, 2),
        "ir_spec_to_analysis_ms": round(spec_to_ir * 1e3, 2),
        "meta_build_ms": round(meta * 1e3, 1),
        **{k: round(v, 3) for k, v in libs.items()},
        "fastest_library": fastest.removesuffix("_s"),
        "speedup_vs_fastest_library": round(libs[fastest] / spec_to_ir, 1),
        "speedup_vs_meta_build": round(meta / ir, 1),
        "crosscheck_cold_s": round(cold, 3),
        "crosscheck_warm_s": round(warm, 3),
        "crosscheck_tool_s": {r.tool: r.seconds for r in check.rows},
        "crosscheck_explained": check.explained,
        "goals": {"ir_under_50ms": spec_to_ir < 0.05, "ir_20x_faster": libs[fastest] / spec_to_ir >= 20,
                  "crosscheck_under_3s_warm": warm < 3.0, "crosscheck_under_3s_cold": cold < 3.0},
    }


if __name__ == "__main__":
    print(json.dumps(main(*sys.argv[1:2]), indent=2))
