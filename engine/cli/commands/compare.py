"""`compare A B`: two architectures side by side per stage (or block): params, MACs, saved activation
memory, and the delta B - A; totals for FLOPs and training memory. `--json` for plain data."""

from __future__ import annotations

import argparse
import json

from engine.analysis import BYTES
from engine.analysis.compare import compare
from engine.cli.commands.summary import parse_shape, positive_int
from engine.cli.render import compare_text

ORDER = 25


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("compare", help="diff two presets or spec files per stage and block")
    p.add_argument("a", metavar="A", help="a preset name or a .yaml/.json spec file")
    p.add_argument("b", metavar="B", help="a preset name or a .yaml/.json spec file")
    p.add_argument("--input", metavar="C,H,W", help="override both specs' input shape")
    p.add_argument("--batch", type=positive_int, default=1, help="batch size for MACs, FLOPs and memory (default 1)")
    p.add_argument("--dtype", choices=list(BYTES), default="float32", help="dtype for memory (default float32)")
    p.add_argument("--level", choices=["stage", "block"], default="stage", help="rows of the table")
    p.add_argument("--json", action="store_true", help="print the comparison as JSON")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    shape = parse_shape(args.input) if args.input else None
    result = compare(args.a, args.b, batch=args.batch, dtype=args.dtype, input_shape=shape)
    print(json.dumps(result.to_json(), indent=2) if args.json else compare_text(result, args.level))
    return 0
