"""Built-in and local datasets. Nothing is ever downloaded.

>>> ds = load_dataset("shapes", seed=0, train_size=100, val_size=20)
>>> ds.x_train.shape, ds.info.num_classes
(torch.Size([100, 3, 32, 32]), 10)
"""

from __future__ import annotations

# Importing the loader modules registers their datasets.
from . import digits, files, npz_file, synthetic, textures  # noqa: F401
from .core import (
    DataError,
    Dataset,
    DatasetInfo,
    check_compatible,
    dataset_names,
    dataset_options,
    load_dataset,
    register,
)
from .files import check_data_path
from .loader import augment_batch, batches
from .safe_pickle import RestrictedUnpickler, safe_load
from .synthetic import SHAPE_CLASSES, render_shapes

__all__ = [
    "SHAPE_CLASSES",
    "DataError",
    "Dataset",
    "DatasetInfo",
    "RestrictedUnpickler",
    "augment_batch",
    "batches",
    "check_compatible",
    "check_data_path",
    "dataset_names",
    "dataset_options",
    "load_dataset",
    "register",
    "render_shapes",
    "safe_load",
]
