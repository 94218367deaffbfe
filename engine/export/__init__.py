"""Interoperability: standalone PyTorch code, ONNX, weights import, and runs as TensorBoard / CSV / Parquet."""

from engine.export.emitters import Emitter, ExportError, register_emitter
from engine.export.pycode import export_python

__all__ = ["Emitter", "ExportError", "export_python", "register_emitter"]
