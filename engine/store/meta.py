"""What a person writes about a run: its name (the ``runs.name`` column), tags and notes (table ``run_meta``).

The table is created by the first write (``CREATE TABLE IF NOT EXISTS`` inside the write transaction); readers of a
store without it see no tags and no notes. So the run tables and the schema version stay as they are and an older
SkipLab still opens the file, as with sweeps and experiments. `RunStore.delete_run` removes a run's row with the
rest (the table has a ``run_id`` column).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable
from typing import Any

from engine.core.errors import SpecError
from engine.store.db import StoreError
from engine.store.runs import RunStore

META_SCHEMA = ("CREATE TABLE IF NOT EXISTS run_meta (run_id INTEGER PRIMARY KEY, tags_json TEXT NOT NULL "
               "DEFAULT '[]', notes TEXT NOT NULL DEFAULT '', updated_at REAL)")
MAX_NAME = 120
MAX_TAG = 40
MAX_TAGS = 20
MAX_NOTES = 10_000


def _clean_name(name: str) -> str:
    text = " ".join(str(name).split())
    if not text:
        raise SpecError("name", "a run name cannot be empty; type a few words, e.g. 'resnet20 · no shortcut'")
    if len(text) > MAX_NAME:
        raise SpecError("name", f"a run name is at most {MAX_NAME} characters, got {len(text):,}")
    return text


def clean_tags(tags: Iterable[str] | str) -> list[str]:
    """Tags from a list or a comma-separated text: trimmed, blanks and repeats dropped, order kept."""
    items = tags.split(",") if isinstance(tags, str) else list(tags)
    out: list[str] = []
    for raw in items:
        tag = " ".join(str(raw).split())
        if not tag or tag in out:
            continue
        if len(tag) > MAX_TAG:
            raise SpecError("tags", f"a tag is at most {MAX_TAG} characters; {tag[:MAX_TAG]!r}… has {len(tag):,}")
        out.append(tag)
    if len(out) > MAX_TAGS:
        raise SpecError("tags", f"a run has at most {MAX_TAGS} tags, got {len(out)}")
    return out


def _check_run(store: RunStore, run_id: int) -> None:
    if store.get_run(run_id) is None:
        raise StoreError(f"no run {run_id} in {store.path}; list runs with `python -m engine runs`")


def rename_run(store: RunStore, run_id: int, name: str) -> str:
    """Give the run a new name (shown everywhere runs are listed); returns the name as stored."""
    text = _clean_name(name)
    store._update_run(run_id, "name = ?", (text,))
    return text


def _upsert(store: RunStore, run_id: int, column: str, value: str) -> None:
    _check_run(store, run_id)
    with store._tx() as c:
        c.execute(META_SCHEMA)
        c.execute(f"INSERT INTO run_meta (run_id, {column}, updated_at) VALUES (?, ?, ?) ON CONFLICT(run_id) "
                  f"DO UPDATE SET {column} = excluded.{column}, updated_at = excluded.updated_at",
                  (run_id, value, time.time()))


def set_tags(store: RunStore, run_id: int, tags: Iterable[str] | str) -> list[str]:
    """Replace the run's tags; returns them cleaned (`clean_tags`)."""
    cleaned = clean_tags(tags)
    _upsert(store, run_id, "tags_json", json.dumps(cleaned))
    return cleaned


def set_notes(store: RunStore, run_id: int, notes: str) -> str:
    """Replace the run's notes (plain text, at most 10,000 characters)."""
    text = str(notes).strip()
    if len(text) > MAX_NOTES:
        raise SpecError("notes", f"notes are at most {MAX_NOTES:,} characters, got {len(text):,}")
    _upsert(store, run_id, "notes", text)
    return text


def get_meta(store: RunStore, run_ids: Iterable[int] | None = None) -> dict[int, dict[str, Any]]:
    """``{run_id: {"tags": [...], "notes": "..."}}`` for the runs that have any (all, or those of ``run_ids``)."""
    if not store._query("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'run_meta'"):
        return {}
    rows = store._query("SELECT run_id, tags_json, notes FROM run_meta")
    wanted = None if run_ids is None else {int(i) for i in run_ids}
    return {int(r[0]): {"tags": json.loads(r[1] or "[]"), "notes": r[2] or ""} for r in rows
            if wanted is None or int(r[0]) in wanted}
