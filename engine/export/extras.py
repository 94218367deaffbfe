"""Optional extras (onnx, onnxruntime, tensorboard, safetensors): imported on use, with a message naming the
pip command when one is missing. They are listed in requirements-extras.txt."""

from __future__ import annotations

import importlib
from types import ModuleType

from engine.export.emitters import ExportError

# module -> the pip command that installs its extra
EXTRAS = {
    "onnx": "pip install onnx onnxruntime",
    "onnxruntime": "pip install onnx onnxruntime",
    "tensorboard": "pip install tensorboard",
    "safetensors": "pip install safetensors",
}


class MissingExtraError(ExportError):
    """An optional package a feature needs is not installed."""


def has(module: str) -> bool:
    try:
        importlib.import_module(module)
    except ImportError:
        return False
    return True


def require(module: str, purpose: str) -> ModuleType:
    """Import an optional package, or raise MissingExtraError naming the extra and how to install it."""
    try:
        return importlib.import_module(module)
    except ImportError:
        pip = EXTRAS.get(module, f"pip install {module}")
        raise MissingExtraError(
            f"{purpose} needs the optional package {module!r}, which is not installed. Install the extra with "
            f"`{pip}` (see requirements-extras.txt) and run the command again."
        ) from None
