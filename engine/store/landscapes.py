"""Loss landscapes and shattering measures, in the run store's SQLite file (table ``landscapes``).

One row per computation: the run it belongs to (NULL for a shattering measure of specs at initialisation),
its kind (``surface`` or ``shatter``), its options, status, the computing process, a progress fraction and the
result (JSON). Like the ``experiments`` table, it is created on first open with ``CREATE TABLE IF NOT EXISTS``,
so the run store's schema version stays the same and older stores gain the table the first time they are used.
"""

from __future__ import annotations

import json
import socket
import sqlite3
import time
from pathlib import Path
from typing import Any

from engine.store.db import SqliteStore, StoreError, dumps, pid_alive, proc_stat

LANDSCAPE_SCHEMA = """
CREATE TABLE IF NOT EXISTS landscapes (
    id INTEGER PRIMARY KEY AUTOINCREMENT, run_id INTEGER, kind TEXT NOT NULL, options_json TEXT NOT NULL,
    status TEXT NOT NULL, created_at REAL NOT NULL, finished_at REAL, error TEXT, pid INTEGER, pid_start TEXT,
    host TEXT, heartbeat_at REAL, progress REAL NOT NULL DEFAULT 0, phase TEXT, result_json TEXT)
"""
LANDSCAPE_INDEX = "CREATE INDEX IF NOT EXISTS landscapes_run ON landscapes (run_id, id)"

LANDSCAPE_KINDS = ("surface", "shatter")
LANDSCAPE_STATUSES = ("queued", "running", "done", "failed", "cancelled", "interrupted")
LANDSCAPE_ACTIVE = ("queued", "running")
_COLUMNS = ("id", "run_id", "kind", "options_json", "status", "created_at", "finished_at", "error", "pid",
            "pid_start", "host", "heartbeat_at", "progress", "phase", "result_json")


class LandscapeStore(SqliteStore):
    """The ``landscapes`` table of a run store file."""

    def _open(self):  # noqa: ANN202 - sqlite3.Connection
        conn = super()._open()
        try:  # a plain read first: opening an existing store never takes the write lock
            if not conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'landscapes'").fetchone():
                try:
                    conn.execute(LANDSCAPE_SCHEMA)
                    conn.execute(LANDSCAPE_INDEX)
                except sqlite3.OperationalError as exc:
                    if "readonly" not in str(exc):
                        raise
                    # A read-only store from before landscapes: it has none, so reading shows none (an empty
                    # table in this connection's temp schema) and any write is refused (query_only), not lost.
                    conn.execute(LANDSCAPE_SCHEMA.replace("CREATE TABLE", "CREATE TEMP TABLE"))
                    conn.execute("PRAGMA query_only = ON")
        except Exception as exc:  # noqa: BLE001 - sqlite3.Error, as a StoreError naming the file
            conn.close()
            raise self._error(exc) from None
        return conn

    def create(self, kind: str, options: dict[str, Any], run_id: int | None = None,
               status: str = "queued") -> int:
        if kind not in LANDSCAPE_KINDS:
            raise ValueError(f"unknown landscape kind {kind!r}; expected one of {', '.join(LANDSCAPE_KINDS)}")
        self._check(status)
        with self._tx() as c:
            cur = c.execute("INSERT INTO landscapes (run_id, kind, options_json, status, created_at, heartbeat_at) "
                            "VALUES (?, ?, ?, ?, ?, ?)", (run_id, kind, dumps(options), status, time.time(),
                                                          time.time()))
            return int(cur.lastrowid or 0)

    @staticmethod
    def _check(status: str) -> None:
        if status not in LANDSCAPE_STATUSES:
            raise ValueError(f"unknown landscape status {status!r}; expected one of {', '.join(LANDSCAPE_STATUSES)}")

    def _update(self, job_id: int, sql: str, params: tuple[Any, ...]) -> None:
        with self._tx() as c:
            if c.execute(f"UPDATE landscapes SET {sql} WHERE id = ?", (*params, job_id)).rowcount == 0:
                raise StoreError(f"no landscape {job_id} in {self.path}; list them with "
                                 "`python -m engine landscape RUN_ID --list`")

    def set_status(self, job_id: int, status: str, error: str | None = None) -> None:
        self._check(status)
        final = status not in LANDSCAPE_ACTIVE
        now = time.time()
        self._update(job_id, "status = ?, error = COALESCE(?, error), heartbeat_at = ?, "
                     "finished_at = CASE WHEN ? THEN ? ELSE finished_at END", (status, error, now, final, now))

    def transition(self, job_id: int, from_statuses: tuple[str, ...], status: str, error: str | None = None) -> bool:
        """Compare-and-set, so a cancel and a finishing worker cannot both win."""
        self._check(status)
        marks = ", ".join("?" for _ in from_statuses)
        with self._tx() as c:
            cur = c.execute(f"UPDATE landscapes SET status = ?, error = COALESCE(?, error), finished_at = ? "
                            f"WHERE id = ? AND status IN ({marks})",
                            (status, error, time.time() if status not in LANDSCAPE_ACTIVE else None, job_id,
                             *from_statuses))
            return cur.rowcount > 0

    def set_pid(self, job_id: int, pid: int) -> None:
        stat = proc_stat(pid)
        self._update(job_id, "pid = ?, pid_start = ?, host = ?", (pid, stat[1] if stat else None, socket.gethostname()))

    def set_progress(self, job_id: int, fraction: float, phase: str | None = None) -> None:
        self._update(job_id, "progress = ?, phase = COALESCE(?, phase), heartbeat_at = ?",
                     (float(fraction), phase, time.time()))

    def set_result(self, job_id: int, result: dict[str, Any]) -> None:
        self._update(job_id, "result_json = ?, progress = 1, heartbeat_at = ?", (dumps(result), time.time()))

    def _row(self, row: tuple[Any, ...]) -> dict[str, Any]:
        d = dict(zip(_COLUMNS, row, strict=True))
        for col in ("options", "result"):
            raw = d.pop(f"{col}_json")
            d[col] = json.loads(raw) if raw is not None else None
        return d

    def get(self, job_id: int) -> dict[str, Any] | None:
        rows = self._query(f"SELECT {', '.join(_COLUMNS)} FROM landscapes WHERE id = ?", (job_id,))
        return self._row(rows[0]) if rows else None

    def list(self, run_id: int | None = None, kind: str | None = None, *, with_results: bool = False,
             status: str | None = None) -> list[dict[str, Any]]:
        """Newest first; without the (possibly large) results unless asked."""
        where, params = [], []
        for col, value in (("run_id", run_id), ("kind", kind), ("status", status)):
            if value is not None:
                where.append(f"{col} = ?")
                params.append(value)
        cols = [c if c != "result_json" or with_results else "NULL" for c in _COLUMNS]
        sql = f"SELECT {', '.join(cols)} FROM landscapes {'WHERE ' + ' AND '.join(where) if where else ''} " \
              "ORDER BY id DESC"
        return [self._row(r) for r in self._query(sql, params)]

    def latest(self, run_id: int, **match: Any) -> dict[str, Any] | None:
        """The newest finished surface of a run whose options contain ``match`` (e.g. ``dim=2``), with its result."""
        for rec in self.list(run_id, "surface", status="done"):
            if all(rec["options"].get(k) == v for k, v in match.items()):
                return self.get(rec["id"])
        return None

    def delete(self, job_id: int) -> bool:
        with self._tx() as c:
            return c.execute("DELETE FROM landscapes WHERE id = ?", (job_id,)).rowcount > 0

    def reap_dead(self) -> list[int]:
        """Mark active computations whose process is gone as ``interrupted``; returns their ids."""
        marked = []
        for rec in self.list():
            if rec["status"] not in LANDSCAPE_ACTIVE or rec["pid"] is None:
                continue
            if rec["host"] not in (None, socket.gethostname()) or pid_alive(int(rec["pid"]), rec["pid_start"]):
                continue
            if self.transition(rec["id"], LANDSCAPE_ACTIVE, "interrupted",
                               f"the landscape process (pid {rec['pid']}) ended without finishing"):
                marked.append(rec["id"])
        return marked


def landscape_store(path: str | Path | None = None) -> LandscapeStore:
    return LandscapeStore(path)
