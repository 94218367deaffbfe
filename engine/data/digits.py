"""``digits``: scikit-learn's bundled 8x8 handwritten digits (real data, shipped with the package)."""

from __future__ import annotations

import numpy as np

from .core import DataError, Dataset, check_sizes, make_image_dataset, register, resize_images, split_indices


@register("digits")
def load_digits(
    *, seed: int = 0, size: int = 8, flatten: bool = False, val_fraction: float = 0.2
) -> Dataset:
    """1797 digits, 1 x 8 x 8 (or 1 x size x size, bilinear), 10 classes; a seeded stratified split."""
    check_sizes("digits", size=size)
    try:
        from sklearn.datasets import load_digits as sk_load_digits
    except ImportError as exc:  # scikit-learn is a runtime requirement, but say what to do if missing
        raise DataError("dataset 'digits' needs scikit-learn; pip install scikit-learn") from exc
    bunch = sk_load_digits()
    x = (bunch.images.astype(np.float32) / 16.0)[:, None, :, :]  # (N, 1, 8, 8), raw range 0..16
    y = bunch.target.astype(np.int64)
    if size != 8:
        if size < 4:
            raise DataError(f"dataset 'digits': size must be at least 4, got {size}")
        x = resize_images(x, size)
    tr, va = split_indices(y, len(y), val_fraction, seed)
    # flipping or cropping a digit can change its class (2 vs 5), so no augmentation
    return make_image_dataset("digits", x[tr], y[tr], x[va], y[va], num_classes=10, augment=False,
                              flatten=flatten, classes=tuple(str(d) for d in range(10)))
