"""Sweeps in the run store: two tables beside the runs, created the first time a sweep is written.

- ``sweeps``: id, name, the sweep definition and its expanded entries (index, overrides, variant, seed).
- ``sweep_runs``: which run is which entry (a retried entry has several runs; the newest counts).

The run tables are untouched (a store without sweeps has no sweep tables; readers then see no sweeps),
so the store's schema version stays 1 and older SkipLab versions still open a store holding sweeps.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from typing import Any

from engine.core.errors import SpecError
from engine.store import RunStore
from engine.store.db import dumps

SWEEP_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS sweeps (id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT NOT NULL, "
    "definition_json TEXT NOT NULL, entries_json TEXT NOT NULL, created_at REAL NOT NULL)",
    "CREATE TABLE IF NOT EXISTS sweep_runs (sweep_id INTEGER NOT NULL, run_id INTEGER NOT NULL, "
    "idx INTEGER NOT NULL, PRIMARY KEY (sweep_id, run_id))",
    "CREATE INDEX IF NOT EXISTS sweep_runs_run ON sweep_runs (run_id)",
)


def _has_tables(store: RunStore) -> bool:
    rows = store._query("SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name IN "
                        "('sweeps', 'sweep_runs')")
    return rows[0][0] == 2


def create_sweep(store: RunStore, name: str, definition: Mapping[str, Any],
                 entries: Sequence[Mapping[str, Any]]) -> int:
    """Record a sweep (before its runs exist) and return its id."""
    with store._tx() as c:
        for stmt in SWEEP_SCHEMA:
            c.execute(stmt)
        cur = c.execute("INSERT INTO sweeps (name, definition_json, entries_json, created_at) VALUES (?, ?, ?, ?)",
                        (name, dumps(dict(definition)), dumps([dict(e) for e in entries]), time.time()))
        return int(cur.lastrowid or 0)


def _entries(store: RunStore, sweep_id: int) -> tuple[str, list[dict[str, Any]]]:
    rows = store._query("SELECT name, entries_json FROM sweeps WHERE id = ?", (sweep_id,)) \
        if _has_tables(store) else []
    if not rows:
        raise SpecError("--sweep", f"no sweep {sweep_id} in {store.path}; `python -m engine sweep FILE "
                        "--print-commands --store PATH` records one and prints its id")
    return rows[0][0], json.loads(rows[0][1])


def check_entry(store: RunStore, sweep_id: int, index: int) -> None:
    """Raise SpecError unless the sweep exists and has entry ``index``."""
    _, entries = _entries(store, sweep_id)
    if not 0 <= index < len(entries):
        raise SpecError("--sweep", f"sweep {sweep_id} has entries 0 to {len(entries) - 1}, not {index}")


def attach_run(store: RunStore, sweep_id: int, index: int, run_id: int) -> None:
    """Mark ``run_id`` as entry ``index`` of the sweep."""
    check_entry(store, sweep_id, index)
    with store._tx() as c:
        c.execute("INSERT OR REPLACE INTO sweep_runs (sweep_id, run_id, idx) VALUES (?, ?, ?)",
                  (sweep_id, run_id, index))


def list_sweeps(store: RunStore) -> list[dict[str, Any]]:
    """Sweeps, newest first: id, name, created_at, entries (count) and runs (count of existing runs)."""
    if not _has_tables(store):
        return []
    rows = store._query(
        "SELECT s.id, s.name, s.created_at, s.entries_json, "
        "(SELECT COUNT(*) FROM sweep_runs r JOIN runs ON runs.id = r.run_id WHERE r.sweep_id = s.id) "
        "FROM sweeps s ORDER BY s.id DESC")
    return [{"id": i, "name": n, "created_at": t, "entries": len(json.loads(e)), "runs": k}
            for i, n, t, e, k in rows]


def get_sweep(store: RunStore, sweep_id: int) -> dict[str, Any] | None:
    """The sweep with ``definition``, ``entries`` and ``runs``: for each run still in the store, its
    ``run_id``, ``index``, ``variant``, ``seed`` and ``status`` (entry order, then run order)."""
    if not _has_tables(store):
        return None
    rows = store._query("SELECT name, definition_json, entries_json, created_at FROM sweeps WHERE id = ?",
                        (sweep_id,))
    if not rows:
        return None
    name, definition, entries_json, created = rows[0]
    entries = json.loads(entries_json)
    members = store._query("SELECT r.run_id, r.idx, runs.status FROM sweep_runs r JOIN runs ON runs.id = r.run_id "
                           "WHERE r.sweep_id = ? ORDER BY r.idx, r.run_id", (sweep_id,))
    runs = [{"run_id": rid, "index": idx, "variant": entries[idx]["variant"], "seed": entries[idx]["seed"],
             "status": status} for rid, idx, status in members if 0 <= idx < len(entries)]
    return {"id": sweep_id, "name": name, "definition": json.loads(definition), "entries": entries,
            "created_at": created, "runs": runs}
