"""How many bytes a data set will take in memory, estimated *before* it is loaded (engine.core.limits).

Built-in sets are sized by their options (``train_size`` x the bytes of one float32 sample); local
files by what is on disk: image counts, IDX and .npy headers (read without loading the arrays). Every
loaded set is float32 tensors in memory, so a uint8 file grows four-fold. Unknown is 0: the loader
then reports its own error, and the loaded tensors are checked again by the trainer.
"""

from __future__ import annotations

import math
import os
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

CHANNELS = {"mnist": 1, "digits": 1}
FIXED_SAMPLES = {"digits": 1797}  # scikit-learn's digits
FILE_SAMPLES = {"cifar10": 60_000, "mnist": 70_000}  # the full sets (subsets via train_size / val_size)
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".ppm", ".pgm", ".tif", ".tiff"}
MAX_SCAN = 200_000  # directory entries looked at when counting images


def estimate_dataset_bytes(name: str, options: dict[str, Any], input_shape: tuple[int, ...]) -> int:
    """Bytes of the loaded set (train + val, inputs + labels); 0 when it cannot be told."""
    from engine.data import dataset_options

    try:
        opts = {**dataset_options(name), **options}
    except ValueError:  # an unknown data set: its loader names the valid ones
        return 0
    if name == "npz":
        return _npz_bytes(opts.get("path"))
    return _samples(name, opts) * _sample_bytes(name, opts, input_shape)


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else None


def _sample_bytes(name: str, opts: dict[str, Any], input_shape: tuple[int, ...]) -> int:
    label = 8  # int64
    if name == "sequence":
        return 8 * (_int(opts.get("seq_len")) or 1) + label
    size = _int(opts.get("size"))
    if size is not None:
        mask = 4 * size * size if name.endswith("_seg") else 0
        return 4 * CHANNELS.get(name, 3) * size * size + mask + label
    return 4 * math.prod(int(d) for d in input_shape) + label


def _samples(name: str, opts: dict[str, Any]) -> int:
    if name in FIXED_SAMPLES:
        return FIXED_SAMPLES[name]
    train, val = _int(opts.get("train_size")), _int(opts.get("val_size"))
    if name in FILE_SAMPLES:
        full = FILE_SAMPLES[name]
        return (min(train, full) if train else full) + (min(val, full) if val else full)
    if name == "imagefolder":
        return _count_images(opts.get("path"))
    return (train or 0) + (val or 0)


def _count_images(path: Any) -> int:
    if not isinstance(path, str | os.PathLike):
        return 0
    seen = count = 0
    for _root, _dirs, files in os.walk(Path(path).expanduser()):
        for f in files:
            seen += 1
            count += os.path.splitext(f)[1].lower() in IMAGE_SUFFIXES
            if seen > MAX_SCAN:
                return count
    return count


def _npz_bytes(path: Any) -> int:
    """float32 bytes of every array in an .npz, from the .npy headers (nothing is decompressed)."""
    if not isinstance(path, str | os.PathLike):
        return 0
    total = 0
    try:
        with zipfile.ZipFile(Path(path).expanduser()) as z:
            for member in z.namelist():
                if not member.endswith(".npy"):
                    continue
                with z.open(member) as f:
                    version = np.lib.format.read_magic(f)
                    read = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                            else np.lib.format.read_array_header_2_0)
                    shape, _, dtype = read(f)
                total += math.prod(shape) * max(4, np.dtype(dtype).itemsize)
    except (OSError, ValueError, zipfile.BadZipFile, EOFError):
        return 0
    return total
