"""`summary SPEC`: shapes, parameters, MACs, FLOPs (forward and backward) and training memory per stage (or
block / node) and totals; `--crosscheck` runs fvcore, FlopCounterMode and torchinfo beside them; `--json`
for the contract."""

from __future__ import annotations

import argparse
import json
import re

from engine.analysis import BYTES
from engine.api import load_spec, summarize
from engine.cli.render import crosscheck_text, summary_text
from engine.core.errors import SpecError


def parse_shape(text: str) -> list[int]:
    """'3,32,32' (or '3x32x32') -> [3, 32, 32]; anything else is a SpecError naming --input."""
    pieces = re.split(r"[,x]", text.strip())
    if not all(p.strip().isdigit() and int(p) > 0 for p in pieces):
        raise SpecError("--input", f"must be comma-separated positive integers like 3,32,32; got {text!r}")
    return [int(p) for p in pieces]


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text!r}")
    return value

ORDER = 20


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("summary", help="shapes, parameters and MACs of a preset or spec file")
    p.add_argument("spec", metavar="SPEC", help="a preset name (see `presets`) or a .yaml/.json spec file")
    p.add_argument("--input", metavar="C,H,W", help="override the spec's input shape")
    p.add_argument("--batch", type=positive_int, default=1, help="batch size for MACs, FLOPs and memory (default 1)")
    p.add_argument("--dtype", choices=list(BYTES), default="float32", help="dtype for memory (default float32)")
    p.add_argument("--crosscheck", action="store_true",
                   help="also run fvcore, FlopCounterMode and torchinfo (batch 1) and explain every difference")
    p.add_argument("--level", choices=["stage", "block", "node"], default="stage", help="rows of the table")
    p.add_argument("--json", action="store_true", help="print the JSON contract instead of a table")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    shape = parse_shape(args.input) if args.input else None
    spec = load_spec(args.spec, input_shape=shape)
    analysis = summarize(spec, batch=args.batch, dtype=args.dtype)
    check = None
    if args.crosscheck:
        from engine.analysis.crosscheck import crosscheck  # late: imports the libraries only when asked

        check = crosscheck(spec)
    if args.json:
        print(json.dumps({**analysis.to_json(), "crosscheck": check.to_json() if check else None}, indent=2))
    else:
        print(summary_text(analysis, args.level))
        if check is not None:
            print("\n" + crosscheck_text(check))
    return 0
