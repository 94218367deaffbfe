"""Datasets read from local files: ``cifar10``, ``mnist``, ``imagefolder`` (``npz`` is in `engine.data.npz_file`).

Nothing here downloads: a missing or malformed file is a :class:`DataError` that names the file,
what was expected and how to fix it.

The memory guard (`engine.train.budget`) sizes a data set before it is loaded, so no file may hold more than
it declares: a CIFAR batch is refused by its size on disk before it is unpickled (a batch holds 10,000 images),
an IDX file (plain or .gz) is read only up to the size its header declares, after that size has been checked
against the memory budget (a .gz is never inflated whole), and an image whose header declares more than
`MAX_IMAGE_PIXELS` pixels is refused before it is decoded (a decompression bomb).
"""

from __future__ import annotations

import gzip
import logging
import math
import os
import warnings
import zlib
from pathlib import Path

import numpy as np

from engine.core.limits import memory_budget
from engine.core.paths import check_path
from engine.core.text import fmt_bytes

from .core import (
    DataError,
    Dataset,
    check_sizes,
    make_image_dataset,
    register,
    resize_images,
    split_indices,
    subsample,
)
from .safe_pickle import safe_load

log = logging.getLogger(__name__)

CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".ppm", ".pgm", ".tif", ".tiff"}
CIFAR_BATCH_IMAGES = 10_000
# 10,000 x (3,072 pixel bytes + a label) plus the file names and pickle framing (the official batches: 31.0 MB)
MAX_CIFAR_BATCH_BYTES = CIFAR_BATCH_IMAGES * 3073 + (4 << 20)
MAX_IMAGE_PIXELS = 40_000_000  # a 40-megapixel photo; every image is resized to `size` x `size` anyway


# What each file-reading data set's `path` names (the messages' "expected ..." part).
PATH_EXPECTED = {
    "cifar10": "a directory with data_batch_1..5 and test_batch (cifar-10-python.tar.gz, extracted)",
    "mnist": "a directory with the MNIST IDX files",
    "imagefolder": "a directory with one sub-folder of images per class",
    "npz": "a .npz file with arrays 'x' and 'y' (optionally 'x_val' and 'y_val')",
}


def check_data_path(dataset: str, options: dict) -> None:
    """The checks of a file data set that read nothing (a path is given, lies under SKIPLAB_DATA_ROOT, exists):
    made before a run is recorded, so a training its loader would refuse at once records no run."""
    if dataset in PATH_EXPECTED:
        _need_path(dataset, options.get("path"), PATH_EXPECTED[dataset])


def _need_path(dataset: str, path: str | Path | None, expected: str) -> Path:
    if path is None:
        raise DataError(f"dataset {dataset!r} reads local files and never downloads; pass path=<{expected}>")
    if not isinstance(path, str | os.PathLike):
        raise DataError(f"dataset {dataset!r}: path must be a string, got {type(path).__name__}; "
                        f"pass path=<{expected}>")
    p = check_path(path, f"dataset {dataset!r}: path")  # inside SKIPLAB_DATA_ROOT when one is set
    if not p.exists():
        raise DataError(f"dataset {dataset!r}: {p} does not exist; expected {expected}")
    return p


# ---------------------------------------------------------------------------------------------- CIFAR-10


def _cifar_batch(path: Path) -> tuple[np.ndarray, np.ndarray]:
    path = check_path(path, "dataset 'cifar10': file")
    size = path.stat().st_size
    if size > MAX_CIFAR_BATCH_BYTES:  # refused unread: unpickling allocates whatever the file holds
        raise DataError(f"dataset 'cifar10': {path} is {fmt_bytes(size)}; a CIFAR-10 batch holds "
                        f"{CIFAR_BATCH_IMAGES:,} images ({fmt_bytes(CIFAR_BATCH_IMAGES * 3073)}); expected the "
                        "files of cifar-10-python.tar.gz: re-extract the archive")
    obj = safe_load(path, "cifar10")
    if not isinstance(obj, dict):
        raise DataError(f"dataset 'cifar10': {path} holds a {type(obj).__name__}; expected a dict with "
                        f"'data' and 'labels'")
    # Python 2 pickles give bytes keys; files re-saved under Python 3 may give str keys
    d = {(k.decode("latin1") if isinstance(k, bytes) else k): v for k, v in obj.items()}
    data, labels = d.get("data"), d.get("labels")
    if not isinstance(data, np.ndarray) or data.ndim != 2 or data.shape[1] != 3072 or data.dtype != np.uint8:
        got = f"{data.dtype} {list(data.shape)}" if isinstance(data, np.ndarray) else type(data).__name__
        raise DataError(f"dataset 'cifar10': {path}: expected 'data' as uint8 [N, 3072], got {got}; "
                        "re-extract cifar-10-python.tar.gz (the python version)")
    if len(data) > CIFAR_BATCH_IMAGES:
        raise DataError(f"dataset 'cifar10': {path} holds {len(data):,} images; a CIFAR-10 batch holds at most "
                        f"{CIFAR_BATCH_IMAGES:,}; re-extract cifar-10-python.tar.gz")
    try:
        y = np.asarray(labels if labels is not None else [], dtype=np.int64)
    except (TypeError, ValueError, OverflowError):
        y = np.zeros((0,), np.int64)
    if y.shape != (len(data),) or (y.size and (y.min() < 0 or y.max() > 9)):
        raise DataError(f"dataset 'cifar10': {path}: expected {len(data)} 'labels' in 0..9, got "
                        f"{y.size} (range {y.min() if y.size else '-'}..{y.max() if y.size else '-'}); "
                        "re-extract cifar-10-python.tar.gz, or fix the labels of a re-saved batch")
    return data.reshape(-1, 3, 32, 32), y  # rows are channel-major: 1024 R, 1024 G, 1024 B


@register("cifar10")
def load_cifar10(
    *,
    seed: int = 0,
    path: str | None = None,
    train_size: int | None = None,
    val_size: int | None = None,
) -> Dataset:
    """The CIFAR-10 python-pickle directory; ``train_size``/``val_size`` take a seeded subset."""
    expected = PATH_EXPECTED["cifar10"]
    root = _need_path("cifar10", path, expected)
    check_sizes("cifar10", train_size=train_size, val_size=val_size)
    if (root / "cifar-10-batches-py").is_dir():  # accept the folder the archive extracts to, too
        root = root / "cifar-10-batches-py"
    if not root.is_dir():
        raise DataError(f"dataset 'cifar10': {root} is a file; expected {expected}")
    train_files = [root / f"data_batch_{i}" for i in range(1, 6) if (root / f"data_batch_{i}").is_file()]
    test_file = root / "test_batch"
    if not train_files or not test_file.is_file():
        found = sorted(p.name for p in root.iterdir())[:10]
        raise DataError(f"dataset 'cifar10': {root} has no data_batch_* / test_batch files (found: "
                        f"{', '.join(found) or 'nothing'}); expected {expected}")
    if len(train_files) < 5:
        log.warning("cifar10: only %d of 5 training batches found in %s", len(train_files), root)
    parts = [_cifar_batch(p) for p in train_files]
    x_t = np.concatenate([p[0] for p in parts])
    y_t = np.concatenate([p[1] for p in parts])
    x_v, y_v = _cifar_batch(test_file)
    it, iv = subsample(len(x_t), train_size, seed), subsample(len(x_v), val_size, seed + 1)
    x_t = x_t[it].astype(np.float32) / 255.0
    x_v = x_v[iv].astype(np.float32) / 255.0
    return make_image_dataset("cifar10", x_t, y_t[it], x_v, y_v[iv], num_classes=10, augment=True,
                              classes=CIFAR10_CLASSES, extra={"source": str(root)})


# ---------------------------------------------------------------------------------------------- MNIST

_IDX_DTYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def read_idx(path: Path, dataset: str, ndim: int) -> np.ndarray:
    """Parse an IDX file (plain or .gz): 2 zero bytes, a type code, the rank, then big-endian dims. The body is
    read only up to the size the dims declare, once that size (as float32) fits the memory budget."""
    path = check_path(path, f"dataset {dataset!r}: file")  # a symlink in the data root may point out of it
    expected = f"an IDX file with {ndim} dimension(s) (magic 0x0000080{ndim})"
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as f:
            magic = f.read(4)
            if len(magic) < 4 or magic[0] != 0 or magic[1] != 0 or magic[2] not in _IDX_DTYPES:
                raise DataError(f"dataset {dataset!r}: {path} is not an IDX file (header {magic.hex() or 'empty'}); "
                                f"expected {expected}; re-extract the file")
            if magic[3] != ndim:
                raise DataError(f"dataset {dataset!r}: {path} has {magic[3]} dimension(s); expected {expected}")
            head = f.read(4 * ndim)
            dims = tuple(int(d) for d in np.frombuffer(head, dtype=">u4")) if len(head) == 4 * ndim else ()
            dtype = np.dtype(_IDX_DTYPES[magic[2]])
            need = math.prod(dims) * dtype.itemsize
            _check_declared(path, dataset, dims, need, dtype.itemsize)
            body = f.read(need + 1) if dims else b""  # one byte more than declared: padding is detected
    except (OSError, EOFError, zlib.error) as exc:
        raise DataError(f"dataset {dataset!r}: cannot read {path} ({exc}); re-extract or re-download the file "
                        "by hand") from None
    if len(dims) != ndim or len(body) != need:
        got = 4 + len(head) + len(body)
        raise DataError(f"dataset {dataset!r}: {path} is truncated or padded: header says {list(dims)}, "
                        f"expected {4 + 4 * ndim + need} bytes, got {got if len(body) <= need else 'more'}; "
                        "re-extract the file")
    return np.frombuffer(body, dtype=dtype).reshape(dims)


def _check_declared(path: Path, dataset: str, dims: tuple[int, ...], need: int, itemsize: int) -> None:
    """Refuse an IDX body larger than the memory budget (as float32, what training holds) before reading it."""
    budget = memory_budget("cpu")
    as_float = need * max(1, 4 // itemsize)
    if budget.bytes is not None and as_float > budget.bytes:
        raise DataError(f"dataset {dataset!r}: {path} declares {list(dims)} values ({fmt_bytes(as_float)} as "
                        f"float32), more than the memory budget of {fmt_bytes(budget.bytes)} ({budget.source}); "
                        f"check the file (MNIST's are 47 MB), or set {budget.fix}")


def _find_idx(root: Path, prefix: str, kind: str, rank: int) -> Path:
    # the official names use '-idx3-ubyte'; widely shared copies use '.idx3-ubyte'; both may be gzipped
    for stem in (f"{prefix}-{kind}-idx{rank}-ubyte", f"{prefix}-{kind}.idx{rank}-ubyte"):
        for name in (stem, stem + ".gz"):
            if (root / name).is_file():
                return root / name
    raise DataError(f"dataset 'mnist': {root} has no {prefix}-{kind}-idx{rank}-ubyte[.gz]; expected the four "
                    f"MNIST IDX files (train-images, train-labels, t10k-images, t10k-labels)")


@register("mnist")
def load_mnist(
    *,
    seed: int = 0,
    path: str | None = None,
    size: int = 28,
    flatten: bool = False,
    train_size: int | None = None,
    val_size: int | None = None,
) -> Dataset:
    """MNIST (or Fashion-MNIST) IDX files; train = train-*, val = t10k-*; 1 x size x size."""
    root = _need_path("mnist", path, PATH_EXPECTED["mnist"])
    check_sizes("mnist", size=size, train_size=train_size, val_size=val_size)
    if not root.is_dir():
        raise DataError(f"dataset 'mnist': {root} is a file; expected a directory with the MNIST IDX files")
    split: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for prefix in ("train", "t10k"):
        img_path, lab_path = _find_idx(root, prefix, "images", 3), _find_idx(root, prefix, "labels", 1)
        x, y = read_idx(img_path, "mnist", 3), read_idx(lab_path, "mnist", 1)
        if len(x) != len(y):
            raise DataError(f"dataset 'mnist': {img_path} has {len(x)} images but {lab_path} has {len(y)} "
                            f"labels; expected one label per image: re-extract both files from the same MNIST "
                            f"download (train-* with train-*, t10k-* with t10k-*)")
        split[prefix] = (x, y.astype(np.int64))
    (x_t, y_t), (x_v, y_v) = split["train"], split["t10k"]
    it, iv = subsample(len(x_t), train_size, seed), subsample(len(x_v), val_size, seed + 1)
    x_t = x_t[it, None].astype(np.float32) / 255.0  # (N, 1, 28, 28)
    x_v = x_v[iv, None].astype(np.float32) / 255.0
    if size != x_t.shape[-1]:
        x_t, x_v = resize_images(x_t, size), resize_images(x_v, size)
    num_classes = int(max(y_t.max(initial=0), y_v.max(initial=0))) + 1
    return make_image_dataset("mnist", x_t, y_t[it], x_v, y_v[iv], num_classes=num_classes, augment=False,
                              flatten=flatten, extra={"source": str(root)})


# ---------------------------------------------------------------------------------------------- folders


def _class_dirs(root: Path) -> list[Path]:
    return sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))


def _read_folder(root: Path, classes: list[str], size: int) -> tuple[np.ndarray, np.ndarray]:
    from PIL import Image, UnidentifiedImageError

    images: list[np.ndarray] = []
    labels: list[int] = []
    for label, cls in enumerate(classes):
        cdir = root / cls
        if not cdir.is_dir():
            continue
        for f in sorted(cdir.rglob("*")):
            if f.suffix.lower() not in IMAGE_SUFFIXES or not f.is_file():
                continue
            f = check_path(f, "dataset 'imagefolder': image")  # the resolved file is the one read
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("error", Image.DecompressionBombWarning)
                    with Image.open(f) as im:  # reads the header only: the size is known before decoding
                        if im.width * im.height > MAX_IMAGE_PIXELS:
                            raise DataError(f"dataset 'imagefolder': image {f} declares {im.width} x {im.height} "
                                            f"pixels, more than {MAX_IMAGE_PIXELS:,} (a decompression bomb, or a "
                                            f"huge scan); shrink or delete the file")
                        im = im.convert("RGB").resize((size, size), Image.Resampling.BILINEAR)
                        images.append(np.asarray(im, dtype=np.uint8))
            except (Image.DecompressionBombError, Image.DecompressionBombWarning):  # Pillow's own header check
                raise DataError(f"dataset 'imagefolder': image {f} declares more than {MAX_IMAGE_PIXELS:,} pixels "
                                "(a decompression bomb, or a huge scan); shrink or delete the file") from None
            except (UnidentifiedImageError, OSError, ValueError) as exc:
                if isinstance(exc, DataError):
                    raise
                raise DataError(f"dataset 'imagefolder': cannot read image {f} ({exc.__class__.__name__}: "
                                f"{str(exc)[:200]}); expected a PNG/JPEG/... image; delete or replace the "
                                "file") from None
            labels.append(label)
    if not images:
        return np.zeros((0, 3, size, size), np.float32), np.zeros(0, np.int64)
    x = np.stack(images).transpose(0, 3, 1, 2).astype(np.float32) / 255.0  # (N, H, W, 3) -> (N, 3, H, W)
    return x, np.asarray(labels, dtype=np.int64)


@register("imagefolder")
def load_imagefolder(
    *, seed: int = 0, path: str | None = None, size: int = 32, val_fraction: float = 0.2
) -> Dataset:
    """One sub-folder per class (or ``train/`` and ``val/`` folders of those); RGB, size x size."""
    expected = PATH_EXPECTED["imagefolder"]
    root = _need_path("imagefolder", path, expected)
    check_sizes("imagefolder", size=size)
    if not root.is_dir():
        raise DataError(f"dataset 'imagefolder': {root} is a file; expected {expected}")
    val_root = next((root / n for n in ("val", "test") if (root / n).is_dir()), None)
    presplit = (root / "train").is_dir() and val_root is not None
    train_root = root / "train" if presplit else root
    classes = [p.name for p in _class_dirs(train_root)]
    if not classes:
        raise DataError(f"dataset 'imagefolder': {train_root} has no sub-folders; expected {expected}")
    x, y = _read_folder(train_root, classes, size)
    if len(x) == 0:
        raise DataError(f"dataset 'imagefolder': no images ({', '.join(sorted(IMAGE_SUFFIXES))}) under "
                        f"{train_root}; expected {expected}")
    if presplit:
        assert val_root is not None
        extra_cls = sorted({p.name for p in _class_dirs(val_root)} - set(classes))
        if extra_cls:
            raise DataError(f"dataset 'imagefolder': {val_root} has classes {extra_cls} missing from "
                            f"{train_root}; expected the same class folders in both")
        x_t, y_t = x, y
        x_v, y_v = _read_folder(val_root, classes, size)
    else:
        tr, va = split_indices(y, len(y), val_fraction, seed)
        x_t, y_t, x_v, y_v = x[tr], y[tr], x[va], y[va]
    return make_image_dataset("imagefolder", x_t, y_t, x_v, y_v, num_classes=len(classes), augment=True,
                              classes=tuple(classes), extra={"source": str(root)})
