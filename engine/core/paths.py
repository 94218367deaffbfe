"""Local files a user names (data set folders, weight files) stay inside a data root when SkipLab is
served to others.

``SKIPLAB_DATA_ROOT=/srv/skiplab-data``: every data set ``path`` option and every weights file must
resolve inside that folder, after ``~``, ``..`` and symbolic links are resolved (``os.path.realpath``),
so ``../../etc/passwd`` or a symlink planted in the root that points out are refused. A relative path
is taken relative to the root. Unset (a single user on their own machine): paths are used as given.
"""

from __future__ import annotations

import os
from pathlib import Path

from engine.core.errors import SkipLabError

ENV = "SKIPLAB_DATA_ROOT"


class PathError(SkipLabError, ValueError):
    """A path outside the data root, or a data root that does not exist."""


def data_root() -> Path | None:
    """The resolved data root, or None when paths are not restricted."""
    text = os.environ.get(ENV, "").strip()
    if not text:
        return None
    root = Path(os.path.realpath(Path(text).expanduser()))
    if not root.is_dir():
        raise PathError(f"{ENV}={text!r} is not a directory; create it or point {ENV} at the folder that holds "
                        "the data sets and weights users may read")
    return root


def check_path(path: str | os.PathLike[str], what: str = "path") -> Path:
    """The path to open. With a data root set: resolved, and refused unless it lies inside the root."""
    root = data_root()
    if root is None:
        return Path(path).expanduser()
    given = Path(path)
    if "\x00" in str(given):
        raise PathError(f"{what} {str(path)!r} contains a NUL byte; give a plain path inside {root}")
    real = Path(os.path.realpath(given if given.is_absolute() else root / given))
    if real != root and not real.is_relative_to(root):
        raise PathError(f"{what} {str(path)!r} resolves to {real}, outside the data root {root} ({ENV}); only "
                        f"files under {root} can be read here: copy the file there and give its path relative "
                        f"to the root")
    return real
