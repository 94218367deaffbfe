"""The ``npz`` dataset: arrays ``x`` and ``y`` (optionally ``x_val``, ``y_val``) from a local .npz, the task
inferred from their shapes. The file is checked to be an .npz before numpy opens it (a .npy, random bytes and
pickled object arrays each get their own message; numpy's advice to pass allow_pickle=True is never passed on),
and every message names the file and the fix."""

from __future__ import annotations

import zipfile
import zlib
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .core import DataError, Dataset, DatasetInfo, make_image_dataset, register, split_indices, standardise
from .files import PATH_EXPECTED, _need_path


def _npz_images(x: np.ndarray) -> np.ndarray:
    x = x.astype(np.float32) / 255.0 if x.dtype == np.uint8 else x.astype(np.float32)
    return x[:, None] if x.ndim == 3 else x  # (N, H, W) -> (N, 1, H, W)


def _npz_task(x: np.ndarray, y: np.ndarray) -> str:
    if y.ndim == 1:
        # integer 2-D inputs are token ids; anything else with one label per sample is classification
        return "sequence" if x.ndim == 2 and np.issubdtype(x.dtype, np.integer) else "classification"
    if y.ndim >= 3 and y.shape[-2:] == x.shape[-2:]:
        return "segmentation"
    return "unknown"


MAX_ABS_VALUE = 1e15  # float32 squares these when standardising; beyond ~1e19 the statistics overflow to inf


def _read_npz(p: Path, expected: str) -> dict[str, np.ndarray]:
    """The arrays of an .npz, after checking it is one: a .npy or any other file gets its own message, and
    numpy's advice to pass allow_pickle=True (pickles run code) is never passed on."""
    fix = "save the arrays with np.savez(path, x=x, y=y)"
    if not p.is_file():
        raise DataError(f"dataset 'npz': {p} is not a regular file; expected {expected}")
    with open(p, "rb") as f:
        magic = f.read(6)
    if magic.startswith(b"\x93NUMPY"):
        raise DataError(f"dataset 'npz': {p} is a .npy file, which holds one array; expected {expected}: {fix}")
    if not magic.startswith(b"PK"):
        raise DataError(f"dataset 'npz': {p} is not an .npz archive (it starts with bytes {magic.hex() or 'none'}); "
                        f"expected {expected}: {fix}")
    try:
        # allow_pickle=False: an object array in an .npz is a pickle, and pickles can run code
        with np.load(p, allow_pickle=False) as z:
            return {k: z[k] for k in z.files}
    except (ValueError, OSError, zipfile.BadZipFile, EOFError, zlib.error) as exc:
        if "allow_pickle" in str(exc) or "pickle" in str(exc).lower():
            raise DataError(f"dataset 'npz': {p} holds object (pickled) arrays, which can run code when loaded, "
                            f"so SkipLab refuses them; expected {expected} of numbers: {fix}") from None
        raise DataError(f"dataset 'npz': cannot read {p} ({exc.__class__.__name__}: {str(exc)[:200]}); expected "
                        f"{expected}: {fix}") from None


@register("npz")
def load_npz(
    *,
    seed: int = 0,
    path: str | None = None,
    task: str | None = None,
    val_fraction: float = 0.2,
    normalise: bool = True,
    augment: bool = False,
) -> Dataset:
    """A .npz with ``x``, ``y`` (and optionally ``x_val``, ``y_val``); the task is inferred from shapes."""
    expected = PATH_EXPECTED["npz"]
    p = _need_path("npz", path, expected)
    arrays = _read_npz(p, expected)
    missing = [k for k in ("x", "y") if k not in arrays]
    if missing or (("x_val" in arrays) != ("y_val" in arrays)):
        raise DataError(f"dataset 'npz': {p} has arrays {sorted(arrays)}; expected {expected} "
                        f"(x_val and y_val together)")
    x, y = arrays["x"], arrays["y"]
    for name, a in arrays.items():
        if not (np.issubdtype(a.dtype, np.number) or a.dtype == np.bool_):
            raise DataError(f"dataset 'npz': {p}: array {name!r} holds {a.dtype} values; expected numbers")
        if np.issubdtype(a.dtype, np.inexact) and not np.isfinite(a).all():
            bad = int(a.size - np.isfinite(a).sum())
            raise DataError(f"dataset 'npz': {p}: array {name!r} holds {bad:,} NaN or infinite value(s); clean "
                            f"the data (e.g. np.nan_to_num) before training")
        if a.size and np.issubdtype(a.dtype, np.number) and float(np.abs(a).max()) > MAX_ABS_VALUE:
            raise DataError(f"dataset 'npz': {p}: array {name!r} holds values up to {float(np.abs(a).max()):.3g}, "
                            f"beyond the {MAX_ABS_VALUE:.0e} that float32 training can take; rescale the data")
    if len(x) != len(y) or x.ndim < 2:
        raise DataError(f"dataset 'npz': {p}: x is {list(x.shape)} and y is {list(y.shape)}; expected x "
                        f"[N, ...] and y [N] or [N, 1, H, W] with the same N; save one label (or mask) per sample")
    if "x_val" in arrays:
        x_t, y_t, x_v, y_v = x, y, arrays["x_val"], arrays["y_val"]
        if x_v.shape[1:] != x.shape[1:] or len(x_v) != len(y_v) or y_v.shape[1:] != y.shape[1:]:
            raise DataError(f"dataset 'npz': {p}: x_val {list(x_v.shape)} / y_val {list(y_v.shape)} do "
                            f"not match x {list(x.shape)} / y {list(y.shape)}; expected the same per-sample "
                            f"shapes")
    else:
        try:
            tr, va = split_indices(y if y.ndim == 1 else None, len(y), val_fraction, seed)
        except DataError as exc:
            raise DataError(f"dataset 'npz': {p}: {exc}") from None
        x_t, y_t, x_v, y_v = x[tr], y[tr], x[va], y[va]
    inferred = _npz_task(x, y)
    task = task or inferred
    if task not in ("classification", "segmentation", "sequence"):
        raise DataError(f"dataset 'npz': {p}: cannot infer the task from x {list(x.shape)} and y "
                        f"{list(y.shape)}; expected y [N] (classification/sequence) or y [N, 1, H, W] "
                        f"matching x's H, W (segmentation); or pass task=")
    extra: dict[str, Any] = {"source": str(p)}
    if task == "segmentation":
        y_t, y_v = (a.astype(np.float32).reshape(len(a), -1, *x.shape[-2:]) for a in (y_t, y_v))
        if not np.isin(np.unique(np.concatenate([y_t.ravel(), y_v.ravel()])), (0.0, 1.0)).all():
            raise DataError(f"dataset 'npz': {p}: segmentation masks must hold only 0 and 1; threshold them "
                            "(e.g. (y > 0.5).astype(np.uint8)) before saving")
        x_t, x_v = _npz_images(x_t), _npz_images(x_v)
        if normalise:
            x_t, x_v, stats = standardise(x_t, x_v)
            extra.update(stats)
        info = DatasetInfo("npz", "segmentation", tuple(x_t.shape[1:]), int(y_t.shape[1]), len(x_t), len(x_v))
        return Dataset(info, torch.from_numpy(x_t), torch.from_numpy(y_t), torch.from_numpy(x_v),
                       torch.from_numpy(y_v), augment=augment, extra=extra)
    if y.ndim != 1 or not np.all(np.mod(np.concatenate([y_t, y_v]), 1) == 0) or min(y_t.min(), y_v.min()) < 0:
        raise DataError(f"dataset 'npz': {p}: {task} needs y as non-negative integer labels [N], got "
                        f"{y.dtype} {list(y.shape)}; save class indices (e.g. y.argmax(1) or y.astype(np.int64)), "
                        "or pass task=segmentation for masks [N, 1, H, W]")
    num_classes = int(max(y_t.max(), y_v.max())) + 1
    if task == "sequence":
        if x.ndim != 2 or not np.issubdtype(x.dtype, np.integer) or min(x_t.min(), x_v.min()) < 0:
            raise DataError(f"dataset 'npz': {p}: a sequence task needs x as non-negative integer tokens "
                            f"[N, seq_len], got {x.dtype} {list(x.shape)}; save token ids as integers, or pass "
                            "task=classification")
        vocab = int(max(x_t.max(), x_v.max())) + 1
        info = DatasetInfo("npz", "sequence", (x.shape[1],), num_classes, len(x_t), len(x_v), vocab=vocab)
        return Dataset(info, torch.from_numpy(x_t.astype(np.int64)), torch.from_numpy(y_t.astype(np.int64)),
                       torch.from_numpy(x_v.astype(np.int64)), torch.from_numpy(y_v.astype(np.int64)),
                       augment=False, extra=extra)
    if x.ndim > 2:
        x_t, x_v = _npz_images(x_t), _npz_images(x_v)
    return make_image_dataset("npz", x_t.astype(np.float32), y_t, x_v.astype(np.float32), y_v,
                              num_classes=num_classes, augment=augment and x_t.ndim == 4, normalise=normalise,
                              extra=extra)
