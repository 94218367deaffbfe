"""`load-weights SPEC FILE [--json] [--strict]`: load a local state_dict into a spec's model and report
missing / unexpected / mis-shaped keys. Only weights-only pickles and safetensors are read."""

from __future__ import annotations

import argparse
import json

from engine.api import load_spec
from engine.cli.commands.summary import parse_shape
from engine.export.weights import load_weights

ORDER = 62


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("load-weights", help="check a local state_dict (.pt/.safetensors) against a spec's model")
    p.add_argument("spec", metavar="SPEC", help="a preset name (see `presets`) or a .yaml/.json spec file")
    p.add_argument("file", metavar="FILE", help="a .pt/.pth state_dict (weights only) or a .safetensors file")
    p.add_argument("--input", metavar="C,H,W", help="override the spec's input shape")
    p.add_argument("--strict", action="store_true", help="exit 2 unless every key matches")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    spec = load_spec(args.spec, input_shape=parse_shape(args.input) if args.input else None)
    report = load_weights(spec, args.file, strict=args.strict)
    print(json.dumps(report.to_json(), indent=2) if args.json else report.text())
    return 0
