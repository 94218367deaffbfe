"""`load-weights SPEC FILE [--num-classes N] [--new-head] [--json] [--strict]`: map a local checkpoint onto a spec's
model by its layout (torchvision / timm ResNets, the CIFAR reference ResNets, SkipLab runs) and report what
loaded, what did not and why. Only weights-only pickles and safetensors are read; nothing is trained."""

from __future__ import annotations

import argparse
import json

from engine.cli.commands.summary import parse_shape, positive_int
from engine.core.errors import SpecError
from engine.export.checkpoints import load_checkpoint

ORDER = 62


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("load-weights", help="check a local checkpoint (.pth/.safetensors) against a spec's model")
    p.add_argument("spec", metavar="SPEC", help="a preset name (see `presets`) or a .yaml/.json spec file")
    p.add_argument("file", metavar="FILE", help="a .pt/.pth state_dict (weights only) or a .safetensors file")
    p.add_argument("--input", metavar="C,H,W", help="override the spec's input shape")
    p.add_argument("--num-classes", type=positive_int, metavar="N", help="override the spec's number of classes")
    p.add_argument("--new-head", action="store_true", help="leave the classifier fresh even if its shape fits")
    p.add_argument("--strict", action="store_true", help="exit 2 unless every tensor of both sides maps")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.set_defaults(func=run)


def spec_with(spec: str, input_text: str | None, num_classes: int | None) -> dict:
    """The spec named on the command line with --input / --num-classes applied (the train command shares it)."""
    from engine.arch import load_spec
    from engine.spec import to_dict

    data = to_dict(load_spec(spec, input_shape=parse_shape(input_text) if input_text else None))
    if num_classes is not None:
        if "num_classes" not in data:
            raise SpecError("--num-classes", f"a {data.get('family')} spec has no num_classes; leave the flag out")
        data["num_classes"] = num_classes
    return data


def run(args: argparse.Namespace) -> int:
    report = load_checkpoint(spec_with(args.spec, args.input, args.num_classes), args.file, new_head=args.new_head)
    print(json.dumps(report.to_json(), indent=2) if args.json else report.text())
    if args.strict and not report.complete:
        raise SpecError("--strict", f"{args.file} does not map completely onto {args.spec}: "
                        f"{report.headline()}; see the report above")
    return 0
