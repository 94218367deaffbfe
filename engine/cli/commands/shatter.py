"""`shatter SPEC [SPEC ...]`: shattered gradients at initialisation (Balduzzi et al. 2017). For each spec, the
autocorrelation of dLoss/dInput along a line through input space, its lag-1 value and correlation length, next to
white and brown noise of the same length; e.g. `shatter plain56 resnet56`. Stored (run id empty) so the dashboard
shows it, unless --no-save.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from engine.cli.commands.landscape import non_negative_int
from engine.cli.commands.summary import positive_int
from engine.cli.commands.train import positive_float
from engine.cli.render import table

ORDER = 67


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("shatter", help="input-gradient autocorrelation at init (shattered gradients), per spec",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("specs", metavar="SPEC", nargs="+", help="preset names or spec files")
    p.add_argument("--points", type=positive_int, help="inputs on the line (default 256)")
    p.add_argument("--span", type=positive_float, help="the line runs from -S to S times the direction (default 2)")
    p.add_argument("--max-lag", type=positive_int, help="largest lag (default 32)")
    p.add_argument("--inits", type=positive_int, help="initialisations averaged (default 3)")
    p.add_argument("--seed", type=non_negative_int, help="first initialisation seed (default 0)")
    p.add_argument("--batch-size", type=positive_int, help="inputs per forward pass (default 256)")
    p.add_argument("--device", choices=["auto", "cpu", "cuda", "mps"])
    p.add_argument("--store", metavar="PATH", help="run store (default $SKIPLAB_STORE or ~/.skiplab/runs.sqlite)")
    p.add_argument("--no-save", action="store_true", help="do not store the result")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from engine.lab.landscape.conclusion import describe_shatter
    from engine.lab.landscape.record import check_shatter, shatter_specs

    keys = ("points", "span", "max_lag", "inits", "seed", "batch_size", "device")
    options: dict[str, Any] = {k: getattr(args, k) for k in keys if getattr(args, k) is not None}
    opts = check_shatter(list(args.specs), options)  # exit 2 before any work

    def progress(fraction: float, phase: str) -> None:
        if not args.json and sys.stderr.isatty():
            sys.stderr.write(f"\r{phase} {100 * fraction:3.0f}%\033[K" + ("\n" if fraction >= 1 else ""))

    result = shatter_specs(args.store, list(args.specs), opts, save=not args.no_save, on_progress=progress)
    assert result is not None
    if args.json:
        print(json.dumps(result))
        return 0
    rows = [[n["label"], f"{n['lag1']:.3f}", f"{n['correlation_length']:.2f}"] for n in result["nets"]]
    for name, ref in result["nets"][0]["references"].items():
        rows.append([f"({name})", f"{ref['lag1']:.3f}", f"{ref['correlation_length']:.2f}"])
    print(table(rows, ["net", "lag-1 autocorrelation", "correlation length (points)"]))
    print()
    print(describe_shatter(result))
    return 0
