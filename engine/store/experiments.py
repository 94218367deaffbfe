"""Experiment records, in the run store's SQLite file (table ``experiments``, created on first use).

One row per experiment: its name, options, planned runs (label, seed, run id), status, the driver
process and the computed results (JSON). The runs themselves are ordinary runs of the store, so they
appear on the Runs and Compare pages. Adding the table on open (``CREATE TABLE IF NOT EXISTS``) keeps the
run store's schema and version untouched: older stores gain the table the first time an experiment runs.
"""

from __future__ import annotations

import json
import socket
import time
from pathlib import Path
from typing import Any

from engine.store.db import SqliteStore, StoreError, dumps, pid_alive, proc_stat

EXPERIMENT_SCHEMA = """
CREATE TABLE IF NOT EXISTS experiments (
    id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT NOT NULL, options_json TEXT NOT NULL,
    runs_json TEXT NOT NULL DEFAULT '[]', status TEXT NOT NULL, created_at REAL NOT NULL, started_at REAL,
    finished_at REAL, error TEXT, pid INTEGER, pid_start TEXT, host TEXT, heartbeat_at REAL, progress_json TEXT,
    results_json TEXT)
"""

EXP_STATUSES = ("queued", "running", "analysing", "done", "failed", "cancelled", "interrupted")
EXP_ACTIVE = ("queued", "running", "analysing")
_COLUMNS = ("id", "name", "options_json", "runs_json", "status", "created_at", "started_at", "finished_at", "error",
            "pid", "pid_start", "host", "heartbeat_at", "progress_json", "results_json")


class ExperimentStore(SqliteStore):
    """The ``experiments`` table of a run store file."""

    def _open(self):  # noqa: ANN202 - sqlite3.Connection
        conn = super()._open()
        try:  # a plain read first: opening an existing store never takes the write lock
            if not conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'experiments'").fetchone():
                conn.execute(EXPERIMENT_SCHEMA)
        except Exception as exc:  # noqa: BLE001 - sqlite3.Error, as a StoreError naming the file
            conn.close()
            raise self._error(exc) from None
        return conn

    def create(self, name: str, options: dict[str, Any], runs: list[dict[str, Any]]) -> int:
        with self._tx() as c:
            cur = c.execute("INSERT INTO experiments (name, options_json, runs_json, status, created_at) "
                            "VALUES (?, ?, ?, 'queued', ?)", (name, dumps(options), dumps(runs), time.time()))
            return int(cur.lastrowid or 0)

    def _update(self, exp_id: int, sql: str, params: tuple[Any, ...]) -> None:
        with self._tx() as c:
            if c.execute(f"UPDATE experiments SET {sql} WHERE id = ?", (*params, exp_id)).rowcount == 0:
                raise StoreError(f"no experiment {exp_id} in {self.path}; list them with "
                                 "`python -m engine experiment --list`")

    def set_runs(self, exp_id: int, runs: list[dict[str, Any]]) -> None:
        self._update(exp_id, "runs_json = ?, heartbeat_at = ?", (dumps(runs), time.time()))

    def set_status(self, exp_id: int, status: str, error: str | None = None) -> None:
        if status not in EXP_STATUSES:
            raise ValueError(f"unknown experiment status {status!r}; expected one of {', '.join(EXP_STATUSES)}")
        now = time.time()
        final = status not in EXP_ACTIVE
        self._update(exp_id, "status = ?, error = COALESCE(?, error), "
                     "started_at = CASE WHEN ? AND started_at IS NULL THEN ? ELSE started_at END, "
                     "finished_at = CASE WHEN ? THEN ? ELSE finished_at END, heartbeat_at = ?",
                     (status, error, status == "running", now, final, now, now))

    def transition(self, exp_id: int, from_statuses: tuple[str, ...], status: str, error: str | None = None) -> bool:
        marks = ", ".join("?" for _ in from_statuses)
        with self._tx() as c:
            cur = c.execute(f"UPDATE experiments SET status = ?, error = COALESCE(?, error), finished_at = ? "
                            f"WHERE id = ? AND status IN ({marks})",
                            (status, error, time.time() if status not in EXP_ACTIVE else None, exp_id,
                             *from_statuses))
            return cur.rowcount > 0

    def set_pid(self, exp_id: int, pid: int) -> None:
        stat = proc_stat(pid)
        self._update(exp_id, "pid = ?, pid_start = ?, host = ?", (pid, stat[1] if stat else None,
                                                                  socket.gethostname()))

    def set_progress(self, exp_id: int, progress: dict[str, Any]) -> None:
        self._update(exp_id, "progress_json = ?, heartbeat_at = ?", (dumps(progress), time.time()))

    def set_results(self, exp_id: int, results: dict[str, Any]) -> None:
        self._update(exp_id, "results_json = ?", (dumps(results),))

    def _row(self, row: tuple[Any, ...]) -> dict[str, Any]:
        d = dict(zip(_COLUMNS, row, strict=True))
        for col in ("options", "runs", "progress", "results"):
            raw = d.pop(f"{col}_json")
            d[col] = json.loads(raw) if raw is not None else None
        return d

    def get(self, exp_id: int) -> dict[str, Any] | None:
        rows = self._query(f"SELECT {', '.join(_COLUMNS)} FROM experiments WHERE id = ?", (exp_id,))
        return self._row(rows[0]) if rows else None

    def list(self, name: str | None = None) -> list[dict[str, Any]]:
        """Newest first, without the (possibly large) results."""
        where, params = ("WHERE name = ?", (name,)) if name else ("", ())
        cols = [c if c != "results_json" else "NULL" for c in _COLUMNS]
        rows = self._query(f"SELECT {', '.join(cols)} FROM experiments {where} ORDER BY id DESC", params)
        return [self._row(r) for r in rows]

    def delete(self, exp_id: int) -> bool:
        with self._tx() as c:
            return c.execute("DELETE FROM experiments WHERE id = ?", (exp_id,)).rowcount > 0

    def reap_dead(self) -> list[int]:
        """Mark active experiments whose driver process is gone as ``interrupted``; returns their ids."""
        marked = []
        for exp in self.list():
            if exp["status"] not in EXP_ACTIVE or exp["pid"] is None:
                continue
            if exp["host"] not in (None, socket.gethostname()) or pid_alive(int(exp["pid"]), exp["pid_start"]):
                continue
            if self.transition(exp["id"], EXP_ACTIVE, "interrupted",
                               f"the experiment process (pid {exp['pid']}) ended without finishing"):
                marked.append(exp["id"])
        return marked


def experiment_store(path: str | Path | None = None) -> ExperimentStore:
    return ExperimentStore(path)
