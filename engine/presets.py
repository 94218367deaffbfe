"""Named presets as data: each is a spec dict (architectures are data, not code paths).

ImageNet ResNets follow torchvision (projection shortcut B); the CIFAR nets follow He et al. 2016,
sec. 4.2 (widths 16/32/64, n blocks per stage, depth 6n + 2, option A zero-pad shortcuts); the plain
nets are the same with no shortcut. Pre-activation nets follow He et al. 2016b with projection (B)
shortcuts where the shape changes.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

from engine.errors import SpecError
from engine.spec import SpecBase, load, parse

PRESETS: dict[str, dict[str, Any]] = {}


def register_preset(name: str, spec: dict[str, Any]) -> None:
    if name in PRESETS:
        raise SpecError("name", f"preset {name!r} is registered twice")
    PRESETS[name] = {"name": name, **spec}


def _imagenet_resnet(block: str, blocks: list[int]) -> dict[str, Any]:
    return {"family": "resnet", "input": [3, 224, 224], "num_classes": 1000, "stem": "imagenet",
            "block": block, "shortcut": "B",
            "stages": [{"blocks": n, "width": w} for n, w in zip(blocks, [64, 128, 256, 512], strict=True)]}


def _cifar_resnet(n: int, shortcut: str = "A", preact: bool = False) -> dict[str, Any]:
    return {"family": "resnet", "input": [3, 32, 32], "num_classes": 10, "stem": "cifar", "block": "basic",
            "shortcut": shortcut, "preact": preact,
            "stages": [{"blocks": n, "width": w} for w in (16, 32, 64)]}


for _name, _block, _blocks in [
    ("resnet18", "basic", [2, 2, 2, 2]),
    ("resnet34", "basic", [3, 4, 6, 3]),
    ("resnet50", "bottleneck", [3, 4, 6, 3]),
    ("resnet101", "bottleneck", [3, 4, 23, 3]),
    ("resnet152", "bottleneck", [3, 8, 36, 3]),
]:
    register_preset(_name, _imagenet_resnet(_block, _blocks))

for _n in (3, 5, 7, 9, 18):
    register_preset(f"resnet{6 * _n + 2}", _cifar_resnet(_n))
    register_preset(f"plain{6 * _n + 2}", _cifar_resnet(_n, shortcut="none"))

# kuangliu/pytorch-cifar's PreActResNet18: CIFAR stem to 64, widths 64-512, projection where shapes change.
register_preset("preact_resnet18", {
    "family": "resnet", "input": [3, 32, 32], "num_classes": 10, "stem": "cifar", "block": "basic",
    "preact": True, "shortcut": "B",
    "stages": [{"blocks": 2, "width": w} for w in (64, 128, 256, 512)],
})
register_preset("preact_resnet110", _cifar_resnet(18, shortcut="B", preact=True))
# A tiny net for tests, demos and the quickstart: trains in seconds on a CPU.
register_preset("resnet8", _cifar_resnet(1))


def preset_names() -> list[str]:
    _ensure_loaded()
    return list(PRESETS)


def get_preset(name: str) -> SpecBase:
    _ensure_loaded()
    if name not in PRESETS:
        raise SpecError("", f"unknown preset {name!r}; valid presets: {', '.join(PRESETS)}")
    return parse(copy.deepcopy(PRESETS[name]))


def resolve(spec_or_name: str | Path | SpecBase | dict[str, Any]) -> SpecBase:
    """A preset name, a path to a .yaml/.json spec, a dict or an already-parsed spec -> a validated spec."""
    if isinstance(spec_or_name, SpecBase):
        return spec_or_name
    if isinstance(spec_or_name, dict):
        return parse(spec_or_name)
    text = str(spec_or_name)
    _ensure_loaded()
    if text in PRESETS:
        return get_preset(text)
    if Path(text).suffix.lower() in (".yaml", ".yml", ".json") or Path(text).exists():
        return load(text)
    raise SpecError("", f"{text!r} is neither a preset nor a spec file; presets: {', '.join(PRESETS)}")


def _ensure_loaded() -> None:
    # Families register their own presets when imported (densenet121, unet, ...).
    import engine.families  # noqa: F401
