"""A pickle reader that can only rebuild plain containers and numpy arrays.

CIFAR-10's "python version" is a set of pickles. Unpickling runs whatever callables the file names
(``os.system`` included), so a downloaded file must never go through ``pickle.load``. This
``Unpickler`` resolves only the handful of numpy globals an ndarray needs and refuses everything
else; dicts, lists, str, bytes, ints and floats need no globals at all.
See https://docs.python.org/3/library/pickle.html#restricting-globals
"""

from __future__ import annotations

import importlib
import pickle
from pathlib import Path
from typing import Any

import numpy as np

from .core import DataError


def _numpy_global(modules: tuple[str, ...], name: str) -> Any:
    # numpy 2 moved numpy.core to numpy._core; files written by either version must load
    for mod in modules:
        try:
            return getattr(importlib.import_module(mod), name)
        except (ImportError, AttributeError):
            continue
    return None


_RECONSTRUCT = _numpy_global(("numpy._core.multiarray", "numpy.core.multiarray"), "_reconstruct")
_FROMBUFFER = _numpy_global(("numpy._core.numeric", "numpy.core.numeric"), "_frombuffer")

# (module, name) as written in the pickle -> the object we hand back. We return our own references
# rather than importing whatever module the file names.
_ALLOWED: dict[tuple[str, str], Any] = {
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
    ("numpy.core.multiarray", "_reconstruct"): _RECONSTRUCT,  # protocol <= 4, numpy 1.x names
    ("numpy._core.multiarray", "_reconstruct"): _RECONSTRUCT,  # protocol <= 4, numpy 2.x names
    ("numpy.core.numeric", "_frombuffer"): _FROMBUFFER,  # protocol 5 (numpy >= 1.16)
    ("numpy._core.numeric", "_frombuffer"): _FROMBUFFER,
}
_ALLOWED = {k: v for k, v in _ALLOWED.items() if v is not None}


class RestrictedUnpickler(pickle.Unpickler):
    """Unpickler whose ``find_class`` allows only numpy array reconstruction."""

    def find_class(self, module: str, name: str) -> Any:
        try:
            return _ALLOWED[(module, name)]
        except KeyError:
            raise pickle.UnpicklingError(
                f"refusing to load global '{module}.{name}': only numpy arrays, dicts, lists, "
                f"strings and numbers are allowed in a data file"
            ) from None


def safe_load(path: Path, dataset: str) -> Any:
    """Unpickle ``path`` with :class:`RestrictedUnpickler`; any failure is a :class:`DataError`."""
    try:
        with open(path, "rb") as f:
            # encoding="bytes": CIFAR's pickles come from Python 2, whose str keys must stay bytes
            obj = RestrictedUnpickler(f, encoding="bytes").load()
    except pickle.UnpicklingError as exc:
        raise DataError(
            f"dataset {dataset!r}: {path} is not a plain-data pickle ({exc}); expected the CIFAR-10 "
            f"'python version' files; re-extract cifar-10-python.tar.gz from a trusted copy"
        ) from None
    except (EOFError, ValueError, TypeError, IndexError, KeyError, AttributeError) as exc:
        raise DataError(
            f"dataset {dataset!r}: cannot read {path} as a pickle ({type(exc).__name__}: {exc}); "
            f"expected the CIFAR-10 'python version' files; re-extract the archive"
        ) from None
    except OSError as exc:
        raise DataError(f"dataset {dataset!r}: cannot open {path} ({exc.strerror or exc})") from None
    if isinstance(obj, np.ndarray) and obj.dtype.hasobject:
        raise DataError(f"dataset {dataset!r}: {path} holds an object array; expected plain numbers")
    return obj
