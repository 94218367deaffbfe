"""Weights belong to their store and a weights file is never overwritten (issue 14, class 3)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from engine.store import RunStore
from engine.store.weights import weights_dir, write_new
from engine.train.events import Done
from engine.train.record import create_run, run_and_record
from tests.train_helpers import FAST, logreg_graph, one_torch_thread  # noqa: F401  (autouse fixture)


def _digest(path: str | Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def _train(store: RunStore, seed: int) -> str:
    config = {**FAST, "dataset": "shapes", "steps": 2, "seed": seed,
              "dataset_options": {"train_size": 32, "val_size": 16}}
    run_id = create_run(store, logreg_graph(), config)
    done = [e for e in run_and_record(store, run_id) if isinstance(e, Done)][0]
    assert done.weights_path and store.get_run(run_id)["summary"]["weights_path"] == done.weights_path
    return done.weights_path


def test_two_stores_in_one_folder_keep_their_own_weights(tmp_path: Path) -> None:
    a, b = RunStore(tmp_path / "a.sqlite"), RunStore(tmp_path / "b.sqlite")
    weights_a = _train(a, seed=1)
    kept = _digest(weights_a)
    weights_b = _train(b, seed=2)  # also run 1, in the same folder
    assert Path(weights_a).parent == weights_dir(a.path) != Path(weights_b).parent == weights_dir(b.path)
    assert _digest(weights_a) == kept != _digest(weights_b)


def test_a_store_started_again_does_not_overwrite_old_weights(tmp_path: Path) -> None:
    first = _train(RunStore(tmp_path / "runs.sqlite"), seed=1)
    kept = _digest(first)
    for suffix in ("", "-wal", "-shm"):
        (tmp_path / f"runs.sqlite{suffix}").unlink(missing_ok=True)
    second = _train(RunStore(tmp_path / "runs.sqlite"), seed=2)  # run ids start again at 1
    assert second != first and Path(second).name == "run-1.1.pt"
    assert _digest(first) == kept


def test_write_new_never_opens_an_existing_name(tmp_path: Path) -> None:
    target = tmp_path / "w" / "run-1.pt"
    target.parent.mkdir()
    target.write_bytes(b"someone else's weights")
    victim = tmp_path / "victim.txt"
    (tmp_path / "w" / "run-1.1.pt").symlink_to(victim)  # a link planted at the next name: not followed
    written = write_new(target, lambda f: f.write(b"new"))
    assert written.name == "run-1.2.pt" and written.read_bytes() == b"new"
    assert target.read_bytes() == b"someone else's weights" and not victim.exists()


def test_write_new_removes_a_partial_file(tmp_path: Path) -> None:
    def fail(f) -> None:  # noqa: ANN001
        f.write(b"half")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        write_new(tmp_path / "run-1.pt", fail)
    assert list(tmp_path.iterdir()) == []
