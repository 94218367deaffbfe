"""Where a store keeps its runs' weights, and writing a weights file without ever replacing one.

Weights belong to their store: a store ``jobs/a.sqlite`` keeps them in ``jobs/a.sqlite.weights/``, so two
stores in one folder (as the README suggests for separate jobs) never share a folder. Within it a file is
created exclusively (``O_EXCL``): when ``run-3.pt`` already exists (a store deleted and started again reuses
run ids) the new weights go to ``run-3.1.pt``, and the run's summary records the name actually written.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

MAX_TRIES = 1000  # run-3.pt, run-3.1.pt ... run-3.999.pt: past that something is wrong with the folder


def weights_dir(store_path: str | Path) -> Path:
    store = Path(store_path)
    return store.parent / f"{store.name}.weights"


def weights_file(store_path: str | Path, run_id: int) -> Path:
    """The preferred weights file of a run; `write_new` picks the next free name if it exists."""
    return weights_dir(store_path) / f"run-{int(run_id)}.pt"


def write_new(path: str | Path, write: Callable[[BinaryIO], None]) -> Path:
    """Create `path` (or ``stem.1.pt``, ``stem.2.pt`` ... if taken) exclusively, let `write` fill it, return it.

    No existing file is opened for writing, so no other run's weights (nor a symlink planted at the name) are
    ever replaced. A failed write removes the partial file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    for i in range(MAX_TRIES):
        candidate = path if i == 0 else path.with_name(f"{path.stem}.{i}{path.suffix}")
        try:
            fd = os.open(candidate, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o644)
        except FileExistsError:
            continue
        try:
            with os.fdopen(fd, "wb") as f:
                write(f)
        except BaseException:
            candidate.unlink(missing_ok=True)
            raise
        return candidate
    raise FileExistsError(f"{path.parent}: {MAX_TRIES} weights files named {path.stem}.*{path.suffix} exist "
                          "already; move old weights out of this folder")
