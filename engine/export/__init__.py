"""Interoperability: the model as standalone PyTorch code or ONNX, local weights imported with a key
report (by name, or by checkpoint layout for torchvision / timm / CIFAR-reference ResNets: checkpoints.py), and
runs as TensorBoard events or CSV / Parquet tables.

Functions that need an optional extra (onnx, onnxruntime, tensorboard, safetensors, pyarrow; see
requirements-extras.txt) import it on use and raise `MissingExtraError` naming the pip command.
"""

from engine.export.checkpoints import TransferReport, load_checkpoint
from engine.export.emitters import Emitter, ExportError
from engine.export.extras import MissingExtraError
from engine.export.pycode import export_python
from engine.export.weights import WeightsError, WeightsReport, load_weights

__all__ = ["Emitter", "ExportError", "MissingExtraError", "TransferReport", "WeightsError", "WeightsReport",
           "export_python", "load_checkpoint", "load_weights"]


def __getattr__(name: str) -> object:
    # The ONNX and run exporters pull in the store and pandas: loaded on first use.
    if name in ("export_onnx", "onnx_bytes", "run_onnx"):
        from engine.export import onnx_export

        return getattr(onnx_export, name)
    if name in ("export_run_tables", "run_tables", "run_archive"):
        from engine.export import runs

        return getattr(runs, name)
    if name == "export_tensorboard":
        from engine.export.tensorboard_export import export_tensorboard

        return export_tensorboard
    raise AttributeError(f"module 'engine.export' has no attribute {name!r}")
