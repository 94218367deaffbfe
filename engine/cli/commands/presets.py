"""`presets`: one preset name per line, or `--json` with each preset's family, input and counts."""

from __future__ import annotations

import argparse
import json

from engine.api import summarize
from engine.arch.presets import PRESETS, preset_names

ORDER = 10


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("presets", help="list the named presets")
    p.add_argument("--json", action="store_true", help="details as JSON (family, input, params, MACs)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    names = preset_names()
    if not args.json:
        print("\n".join(names))
        return 0
    rows = []
    for name in names:
        a = summarize(name)
        rows.append({"name": name, "family": PRESETS[name]["family"], "input_shape": a.input_shape,
                     "params": a.params, "macs": a.macs, "depth": a.depth})
    print(json.dumps(rows, indent=2))
    return 0
