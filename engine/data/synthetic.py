"""Procedurally generated datasets: ``shapes``, ``shapes_seg`` and ``sequence``.

They exist so every family can be trained offline in seconds. ``shapes`` is built to need
convolution: random position, scale and colours (foreground and background drawn independently)
mean no single pixel or linear combination of pixels tells the classes apart, so logistic
regression on raw pixels stays near chance while a small ResNet learns it (see tests/test_data.py
and bench/shapes_learnability.py).
"""

from __future__ import annotations

import numpy as np
import torch

from .core import DataError, Dataset, DatasetInfo, check_sizes, make_image_dataset, register, standardise

SHAPE_CLASSES: tuple[str, ...] = (
    "circle", "square", "triangle", "plus", "ring", "hbar", "vbar", "diamond", "x", "two_dots",
)

# Shape extent in pixels at 32x32; scaled with the image size so the task looks the same at any size.
_R_MIN, _R_MAX = 5.5, 12.0
_NOISE_STD = 0.08


def _shape_mask(cls: int, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Boolean mask of shape class ``cls`` on coordinates normalised by the shape radius.

    ``u`` grows rightwards and ``v`` downwards, both 0 at the shape centre and +-1 at its radius;
    every shape stays within |u|, |v| <= 1 so it is never clipped by the frame.
    Every shape is mirror-symmetric left/right, so a horizontal flip never changes the label.
    """
    au, av = np.abs(u), np.abs(v)
    if cls == 0:  # circle
        return u * u + v * v <= 1.0
    if cls == 1:  # square
        return np.maximum(au, av) <= 0.85
    if cls == 2:  # triangle, apex up
        return (v >= -0.9) & (v <= 0.8) & (au <= (v + 0.9) / 1.7)
    if cls == 3:  # plus
        return ((au <= 0.3) & (av <= 1.0)) | ((av <= 0.3) & (au <= 1.0))
    if cls == 4:  # ring
        d2 = u * u + v * v
        return (d2 <= 1.0) & (d2 >= 0.55**2)
    if cls == 5:  # horizontal bar
        return (au <= 1.0) & (av <= 0.3)
    if cls == 6:  # vertical bar
        return (av <= 1.0) & (au <= 0.3)
    if cls == 7:  # diamond
        return au + av <= 1.0
    if cls == 8:  # x: two diagonals, stroke width close to the plus's
        return ((np.abs(u - v) <= 0.4) | (np.abs(u + v) <= 0.4)) & (np.maximum(au, av) <= 0.85)
    if cls == 9:  # two dots side by side
        r2 = 0.38**2
        return ((u - 0.6) ** 2 + v * v <= r2) | ((u + 0.6) ** 2 + v * v <= r2)
    raise ValueError(f"no shape class {cls}")


def render_shapes(labels: np.ndarray, size: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Render one shape per label: images (N, 3, size, size) float32 and masks (N, size, size) bool.

    Vectorised per class over coordinate grids, so thousands of images take milliseconds.
    """
    n = len(labels)
    scale = size / 32.0
    radius = rng.uniform(_R_MIN, _R_MAX, n) * scale
    # keep the whole shape inside the frame: the class must always be visible
    cx = rng.uniform(radius, size - radius)
    cy = rng.uniform(radius, size - radius)
    bg = rng.uniform(0.0, 1.0, (n, 3))
    # every channel of the foreground differs from the background by at least 0.3, yet its sign is
    # random: brightness alone never gives away which pixels are the shape
    fg = (bg + rng.uniform(0.3, 0.7, (n, 3))) % 1.0

    grid = np.arange(size, dtype=np.float32) + 0.5  # pixel centres
    masks = np.zeros((n, size, size), dtype=bool)
    for cls in range(len(SHAPE_CLASSES)):
        idx = np.flatnonzero(labels == cls)
        if idx.size == 0:
            continue
        r = radius[idx, None, None].astype(np.float32)
        u = (grid[None, None, :] - cx[idx, None, None].astype(np.float32)) / r  # (k, 1, S)
        v = (grid[None, :, None] - cy[idx, None, None].astype(np.float32)) / r  # (k, S, 1)
        u, v = np.broadcast_arrays(u, v)  # (k, S, S)
        masks[idx] = _shape_mask(cls, u, v)

    # composite in float32 and in place: float64 temporaries made this 5x slower
    images = rng.standard_normal((n, 3, size, size), dtype=np.float32)  # (N, 3, S, S)
    images *= _NOISE_STD
    colour = np.where(masks[:, None, :, :], fg[:, :, None, None].astype(np.float32),
                      bg[:, :, None, None].astype(np.float32))  # (N, 3, S, S)
    images += colour
    return images, masks


def _balanced_labels(n: int, k: int, rng: np.random.Generator) -> np.ndarray:
    return rng.permutation(np.arange(n) % k).astype(np.int64)


@register("shapes")
def load_shapes(*, seed: int = 0, train_size: int = 5000, val_size: int = 1000, size: int = 32) -> Dataset:
    """10 classes of geometric shapes, 3 x size x size, random colour, position, scale and noise."""
    check_sizes("shapes", train_size=train_size, val_size=val_size, size=size)
    if size < 16:
        raise DataError(f"dataset 'shapes': size must be at least 16 to draw the shapes, got {size}")
    # separate streams for train and val: changing train_size leaves the val set unchanged
    rng_t = np.random.default_rng([seed, 0])
    rng_v = np.random.default_rng([seed, 1])
    k = len(SHAPE_CLASSES)
    y_t = _balanced_labels(train_size, k, rng_t)
    y_v = _balanced_labels(val_size, k, rng_v)
    x_t, _ = render_shapes(y_t, size, rng_t)
    x_v, _ = render_shapes(y_v, size, rng_v)
    # augment off: position and scale are already random, and the val set is drawn the same way
    return make_image_dataset("shapes", x_t, y_t, x_v, y_v, num_classes=k, augment=False,
                              classes=SHAPE_CLASSES)


@register("shapes_seg")
def load_shapes_seg(*, seed: int = 0, train_size: int = 2000, val_size: int = 400, size: int = 32) -> Dataset:
    """One random shape on a noisy background; the target is its binary mask (1 x size x size, 0/1)."""
    check_sizes("shapes_seg", train_size=train_size, val_size=val_size, size=size)
    if size < 16:
        raise DataError(f"dataset 'shapes_seg': size must be at least 16 to draw the shapes, got {size}")
    rng_t = np.random.default_rng([seed, 2])
    rng_v = np.random.default_rng([seed, 3])
    k = len(SHAPE_CLASSES)
    x_t, m_t = render_shapes(_balanced_labels(train_size, k, rng_t), size, rng_t)
    x_v, m_v = render_shapes(_balanced_labels(val_size, k, rng_v), size, rng_v)
    x_t, x_v, stats = standardise(x_t, x_v)
    info = DatasetInfo(name="shapes_seg", task="segmentation", input_shape=(3, size, size), num_classes=1,
                       train_size=train_size, val_size=val_size)
    return Dataset(
        info=info,
        x_train=torch.from_numpy(x_t),
        y_train=torch.from_numpy(m_t[:, None].astype(np.float32)),  # (N, 1, S, S) in {0, 1}
        x_val=torch.from_numpy(x_v),
        y_val=torch.from_numpy(m_v[:, None].astype(np.float32)),
        augment=False,  # a crop/flip would have to move the mask too; augment_batch only moves x
        extra=stats,
    )


def majority_sequences(
    n: int, seq_len: int, vocab: int, num_classes: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Token sequences whose label is the strictly most frequent token among ids ``0..num_classes-1``.

    Ids ``>= num_classes`` are distractors. Counting has to look at every position, which is the
    point: a model must attend over the whole sequence, not a fixed window.
    """
    tokens = rng.integers(0, vocab, (n, seq_len))
    labels = rng.integers(0, num_classes, n)
    rows = np.arange(n)
    counts = (tokens[:, :, None] == np.arange(num_classes)).sum(axis=1)  # (n, K)
    own = counts[rows, labels]
    counts[rows, labels] = -1
    deficit = np.maximum(counts.max(axis=1) - own + 1, 0)  # copies of the label still needed
    # overwrite `deficit` random positions that do not already hold the label; overwriting can only
    # lower the other counts, so afterwards the label is a strict majority
    keys = rng.random((n, seq_len))
    keys[tokens == labels[:, None]] = 2.0
    order = np.argsort(keys, axis=1)
    r, c = np.nonzero(np.arange(seq_len)[None, :] < deficit[:, None])
    tokens[r, order[r, c]] = labels[r]
    return tokens.astype(np.int64), labels.astype(np.int64)


@register("sequence")
def load_sequence(
    *,
    seed: int = 0,
    vocab: int = 16,
    seq_len: int = 32,
    num_classes: int = 10,
    train_size: int = 5000,
    val_size: int = 1000,
) -> Dataset:
    """Majority-token classification: the class is the most frequent of token ids 0..num_classes-1."""
    check_sizes("sequence", vocab=vocab, seq_len=seq_len, num_classes=num_classes,
                train_size=train_size, val_size=val_size)
    if not 2 <= num_classes <= vocab:
        raise DataError(
            f"dataset 'sequence': num_classes must be between 2 and vocab ({vocab}), got {num_classes}; "
            f"raise vocab or lower num_classes"
        )
    if seq_len < 2:
        raise DataError(f"dataset 'sequence': seq_len must be at least 2, got {seq_len}")
    x_t, y_t = majority_sequences(train_size, seq_len, vocab, num_classes, np.random.default_rng([seed, 4]))
    x_v, y_v = majority_sequences(val_size, seq_len, vocab, num_classes, np.random.default_rng([seed, 5]))
    info = DatasetInfo(name="sequence", task="sequence", input_shape=(seq_len,), num_classes=num_classes,
                       train_size=train_size, val_size=val_size, vocab=vocab,
                       classes=tuple(f"token {k}" for k in range(num_classes)))
    return Dataset(info=info, x_train=torch.from_numpy(x_t), y_train=torch.from_numpy(y_t),
                   x_val=torch.from_numpy(x_v), y_val=torch.from_numpy(y_v), augment=False)
