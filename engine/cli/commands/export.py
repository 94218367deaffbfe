"""`export SPEC --format py|onnx [--out FILE]`: the model as one standalone PyTorch file, or as ONNX."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from engine.api import load_spec
from engine.cli.commands.summary import parse_shape
from engine.core.errors import SpecError
from engine.core.text import file_stem

ORDER = 60


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("export", help="write a spec's model as standalone PyTorch code or ONNX")
    p.add_argument("spec", metavar="SPEC", help="a preset name (see `presets`) or a .yaml/.json spec file")
    p.add_argument("--format", choices=["py", "onnx"], default="py", help="py (default) or onnx (optional extra)")
    p.add_argument("--out", metavar="FILE", help="output file (py: default stdout; onnx: default <name>.onnx)")
    p.add_argument("--input", metavar="C,H,W", help="override the spec's input shape")
    p.add_argument("--weights", metavar="FILE", help="onnx only: load this checkpoint first; every tensor must map "
                   "(see load-weights)")
    p.add_argument("--seed", type=int, default=0, help="onnx only: seed of the initial weights (default 0)")
    p.add_argument("--json", action="store_true", help="print what was written as JSON")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    spec = load_spec(args.spec, input_shape=parse_shape(args.input) if args.input else None)
    name = file_stem(spec.name or spec.family)  # the default file name: the spec's name cannot pick a folder
    if args.format == "py":
        from engine.export.pycode import export_python

        if args.weights:
            raise SpecError("--weights", "applies to --format onnx only: the .py file holds code, not weights; "
                            "load them into it with model.load_state_dict(torch.load(FILE, weights_only=True))")
        source = export_python(spec)
        if not args.out:
            print(source, end="")
            return 0
        try:
            Path(args.out).write_text(source, encoding="utf-8")
        except OSError as exc:  # a full disk says "no space" without naming the file: name it (exit 2)
            raise OSError(exc.errno, exc.strerror, args.out) from None
        info = {"path": args.out, "format": "py", "bytes": len(source.encode())}
    else:
        from engine.export.checkpoints import load_checkpoint
        from engine.export.onnx_export import export_onnx

        model = None
        if args.weights:  # by layout: a torchvision / timm / CIFAR-reference checkpoint exports too
            report = load_checkpoint(spec, args.weights)
            if not report.complete:
                raise SpecError("--weights", f"{args.weights} does not fill this spec's model: {report.text()}")
            model = report.model
        info = export_onnx(spec, args.out or f"{name}.onnx", model=model, seed=args.seed).to_json()
        info["format"] = "onnx"
    if args.json:
        print(json.dumps(info, indent=2))
    else:
        extra = ""
        if info.get("checked_with_onnxruntime"):
            extra = (f"; onnxruntime matches PyTorch (max abs diff {info['max_abs_diff']:.1e}, "
                     f"relative {info['max_rel_diff']:.1e})")
        print(f"wrote {info['path']} ({info['format']}, {info['bytes']:,} bytes){extra}")
    return 0
