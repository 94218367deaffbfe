"""Dataset types, the string-keyed registry and the shared helpers every loader uses.

Loaders are plain functions registered under a name; ``load_dataset`` checks the options against
the loader's signature so a typo (``trian_size``) is an error that lists the valid options instead
of being silently ignored.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from engine.core.errors import SkipLabError
from engine.core.registry import Registry
from engine.core.text import short

log = logging.getLogger(__name__)

TASKS = ("classification", "segmentation", "sequence")


class DataError(SkipLabError, ValueError):
    """A dataset could not be loaded or does not fit a model.

    The message names the dataset or file, what was expected, what was received and the fix, so the
    CLI and the dashboard can show it verbatim.
    """


@dataclass
class DatasetInfo:
    """What a dataset provides; checked against a model spec before training."""

    name: str
    task: str  # "classification" | "segmentation" | "sequence"
    input_shape: tuple[int, ...]  # per sample, no batch: (C, H, W) images, (seq_len,) tokens, (features,)
    num_classes: int  # classes; segmentation: 1 = binary mask
    train_size: int
    val_size: int
    vocab: int | None = None  # token datasets only
    classes: tuple[str, ...] | None = None  # human-readable class names where the data has them


@dataclass
class Dataset:
    """Tensors held in memory: meant for small data sets only."""

    info: DatasetInfo
    x_train: torch.Tensor
    y_train: torch.Tensor
    x_val: torch.Tensor
    y_val: torch.Tensor
    augment: bool  # True for natural-image sets where random crop + flip preserves the label
    extra: dict[str, Any] = field(default_factory=dict)  # e.g. normalisation mean/std, source files


Loader = Callable[..., Dataset]
DATASETS: Registry[Loader] = Registry("dataset")


def register(name: str) -> Callable[[Loader], Loader]:
    """Register a loader under ``name``; a second registration of the same name names both definitions."""

    def deco(fn: Loader) -> Loader:
        DATASETS.register(name, fn, where=f"{fn.__module__}.{fn.__name__}")
        return fn

    return deco


def dataset_names() -> list[str]:
    """Names accepted by :func:`load_dataset`, sorted."""
    return sorted(DATASETS.names())


def dataset_options(name: str) -> dict[str, Any]:
    """The options a dataset accepts and their defaults (for help text and the UI)."""
    fn = _get_loader(name)
    return {
        p.name: (None if p.default is inspect.Parameter.empty else p.default)
        for p in inspect.signature(fn).parameters.values()
        if p.kind is inspect.Parameter.KEYWORD_ONLY and p.name != "seed"
    }


def _get_loader(name: str) -> Loader:
    if name not in DATASETS:
        raise DataError(f"unknown dataset {short(name)}; expected one of: {', '.join(dataset_names())}")
    return DATASETS.get(name)


def load_dataset(name: str, *, seed: int = 0, **options: Any) -> Dataset:
    """Build or read the dataset ``name``. Deterministic for a given ``seed`` and options."""
    fn = _get_loader(name)
    valid = dataset_options(name)
    unknown = sorted(set(options) - set(valid))
    if unknown:
        raise DataError(
            f"dataset {name!r} got unknown option(s) {', '.join(unknown)}; "
            f"valid options: {', '.join(sorted(valid)) or '(none)'}"
        )
    ds = fn(seed=seed, **options)
    log.info(
        "loaded dataset %s: %s train, %s val, input %s, %s classes",
        name, ds.info.train_size, ds.info.val_size, list(ds.info.input_shape), ds.info.num_classes,
    )
    return ds


def check_compatible(info: DatasetInfo, input_shape: tuple[int, ...], num_classes: int | None) -> None:
    """Raise :class:`DataError` when a spec's input shape or class count does not match the dataset."""
    want = tuple(int(d) for d in input_shape)
    if want != tuple(info.input_shape):
        have = list(info.input_shape)
        raise DataError(
            f"dataset {info.name!r} gives inputs {have} but the spec's input is {list(want)}; "
            f"set input: {have} or pick another dataset"
        )
    if num_classes is not None and int(num_classes) != info.num_classes:
        what = "output channels" if info.task == "segmentation" else "classes"
        raise DataError(
            f"dataset {info.name!r} has {info.num_classes} {what} but the spec's num_classes is "
            f"{num_classes}; set num_classes: {info.num_classes} or pick another dataset"
        )


# ---------------------------------------------------------------------------------------------
# Helpers shared by the loaders


def check_sizes(name: str, **sizes: int | None) -> None:
    """Sizes must be positive integers; a clear message beats an empty tensor three calls later."""
    for key, value in sizes.items():
        if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 1):
            raise DataError(f"dataset {name!r}: {key} must be a positive integer, got {value!r}")


def standardise(x_train: np.ndarray, x_val: np.ndarray) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    """Per-channel zero mean / unit std using train statistics only (val must not leak into them).

    Works on (N, C, ...) arrays; the statistics are returned so a caller can undo it for display.
    Done in float32 torch ops: numpy's float64 ``std`` over a few million pixels was the slowest
    part of building ``shapes``.
    """
    xt = torch.from_numpy(np.ascontiguousarray(x_train, dtype=np.float32))
    xv = torch.from_numpy(np.ascontiguousarray(x_val, dtype=np.float32))
    dims = (0, *range(2, xt.ndim))
    std, mean = torch.std_mean(xt, dim=dims, keepdim=True, correction=0)
    if not (torch.isfinite(std).all() and torch.isfinite(mean).all()):
        raise DataError(f"the inputs are too large to standardise in float32 (largest |x| {float(xt.abs().max()):.3g})"
                        "; rescale the data (e.g. divide by its maximum)")
    std = torch.where(std < 1e-8, torch.ones_like(std), std)  # a constant channel would divide by zero
    xt = (xt - mean) / std
    xv = (xv - mean) / std
    stats = {"mean": mean.reshape(-1).tolist(), "std": std.reshape(-1).tolist()}
    return xt.numpy(), xv.numpy(), stats


def split_indices(
    y: np.ndarray | None, n: int, val_fraction: float, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """A seeded train/val split; stratified by label when labels are given so small sets keep all classes."""
    if not 0.0 < val_fraction < 1.0:
        raise DataError(f"val_fraction must be between 0 and 1 (exclusive), got {val_fraction!r}")
    if n < 2:
        raise DataError(f"{n} sample(s) cannot be split into a training and a validation set; give at least 2 "
                        "samples, or a separate validation set")
    rng = np.random.default_rng(seed)
    if y is None or y.ndim != 1:
        perm = rng.permutation(n)
        n_val = max(1, round(n * val_fraction))
        return np.sort(perm[n_val:]), np.sort(perm[:n_val])
    train_parts, val_parts = [], []
    for cls in np.unique(y):
        idx = rng.permutation(np.flatnonzero(y == cls))
        n_val = round(len(idx) * val_fraction)
        if len(idx) > 1:
            n_val = min(max(n_val, 1), len(idx) - 1)  # every class in both splits when it can be
        val_parts.append(idx[:n_val])
        train_parts.append(idx[n_val:])
    train, val = np.sort(np.concatenate(train_parts)), np.sort(np.concatenate(val_parts))
    if len(val) == 0 or len(train) == 0:  # every class a single sample: stratifying cannot fill both splits
        return split_indices(None, n, val_fraction, seed)
    return train, val


def subsample(n: int, limit: int | None, seed: int) -> np.ndarray:
    """Indices of a seeded subset of size ``limit`` (all indices, in order, when limit is None)."""
    if limit is None or limit >= n:
        return np.arange(n)
    return np.sort(np.random.default_rng(seed).permutation(n)[:limit])


def resize_images(x: np.ndarray, size: int) -> np.ndarray:
    """Bilinear resize of an (N, C, H, W) float array to (N, C, size, size)."""
    if x.shape[-2:] == (size, size):
        return x
    t = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))
    # antialias only matters when shrinking; it keeps small-digit strokes from aliasing away
    shrink = size < x.shape[-1] or size < x.shape[-2]
    out = torch.nn.functional.interpolate(t, size=(size, size), mode="bilinear", align_corners=False,
                                          antialias=shrink)
    return out.numpy()


def make_image_dataset(
    name: str,
    x_train: np.ndarray,
    y_train: np.ndarray,
    x_val: np.ndarray,
    y_val: np.ndarray,
    *,
    num_classes: int,
    augment: bool,
    normalise: bool = True,
    flatten: bool = False,
    classes: tuple[str, ...] | None = None,
    extra: dict[str, Any] | None = None,
) -> Dataset:
    """Standardise (N, C, H, W) float images, optionally flatten, and wrap them as a classification set."""
    extra = dict(extra or {})
    if normalise:
        x_train, x_val, stats = standardise(x_train.astype(np.float32), x_val.astype(np.float32))
        extra.update(stats)
    if flatten:
        x_train = x_train.reshape(len(x_train), -1)
        x_val = x_val.reshape(len(x_val), -1)
        augment = False  # crop/flip make no sense on a vector
    info = DatasetInfo(
        name=name,
        task="classification",
        input_shape=tuple(int(d) for d in x_train.shape[1:]),
        num_classes=int(num_classes),
        train_size=len(x_train),
        val_size=len(x_val),
        classes=classes,
    )
    return Dataset(
        info=info,
        x_train=torch.from_numpy(np.ascontiguousarray(x_train, dtype=np.float32)),
        y_train=torch.from_numpy(np.ascontiguousarray(y_train, dtype=np.int64)),
        x_val=torch.from_numpy(np.ascontiguousarray(x_val, dtype=np.float32)),
        y_val=torch.from_numpy(np.ascontiguousarray(y_val, dtype=np.int64)),
        augment=augment,
        extra=extra,
    )
