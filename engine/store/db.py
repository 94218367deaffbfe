"""Plumbing under :mod:`engine.store`: schema, connections, transactions, errors, process liveness.

Why it looks like this:

- WAL journal: readers never block the writer and the writer never blocks readers, so a dashboard
  polling every second cannot stall training. Writes use ``BEGIN IMMEDIATE`` so a writer takes the
  lock up front and waits out ``busy_timeout`` instead of failing with "database is locked" when a
  read transaction would otherwise have to be upgraded (https://sqlite.org/lang_transaction.html).
- One connection per thread and process (``threading.local``, re-opened after a fork): sqlite3
  connections must not be shared across threads, and opening one costs well under a millisecond.
- Every sqlite3 error leaves as a :class:`StoreError` naming the file and the fix.
"""

from __future__ import annotations

import json
import logging
import os
import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

import numpy as np

from engine.core.errors import SkipLabError

log = logging.getLogger(__name__)

SCHEMA_VERSION = 1

F32 = np.dtype("<f4")  # explicit byte order: a store file may move between machines

SCHEMA = """
CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS runs (
    id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT NOT NULL, spec_json TEXT NOT NULL,
    config_json TEXT NOT NULL, dataset TEXT, device TEXT, status TEXT NOT NULL, created_at REAL NOT NULL,
    started_at REAL, finished_at REAL, error TEXT, world_size INTEGER NOT NULL DEFAULT 1, pid INTEGER,
    pid_start TEXT, host TEXT, heartbeat_at REAL, summary_json TEXT);
CREATE TABLE IF NOT EXISTS metrics (
    run_id INTEGER NOT NULL, step INTEGER NOT NULL, key TEXT NOT NULL, value REAL,
    PRIMARY KEY (run_id, key, step)) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS metrics_step ON metrics (run_id, step);
CREATE TABLE IF NOT EXISTS layers (
    run_id INTEGER NOT NULL, idx INTEGER NOT NULL, name TEXT NOT NULL, op TEXT, stage TEXT, block TEXT,
    numel INTEGER, extra_json TEXT, PRIMARY KEY (run_id, idx));
CREATE TABLE IF NOT EXISTS layer_stats (
    id INTEGER PRIMARY KEY, run_id INTEGER NOT NULL, step INTEGER NOT NULL, stat TEXT NOT NULL,
    data BLOB NOT NULL, UNIQUE (run_id, stat, step));
CREATE INDEX IF NOT EXISTS layer_stats_step ON layer_stats (run_id, step);
CREATE TABLE IF NOT EXISTS alerts (
    id INTEGER PRIMARY KEY, run_id INTEGER NOT NULL, step INTEGER, kind TEXT NOT NULL, layer TEXT,
    message TEXT NOT NULL, created_at REAL NOT NULL);
CREATE INDEX IF NOT EXISTS alerts_run ON alerts (run_id, id);
"""


class StoreError(SkipLabError, RuntimeError):
    """The run store cannot be opened or written; the message names the file and the fix."""


def default_store_path() -> Path:
    """``$SKIPLAB_STORE`` if set, else ``~/.skiplab/runs.sqlite``."""
    return Path(os.environ.get("SKIPLAB_STORE") or "~/.skiplab/runs.sqlite").expanduser()


def _json_default(obj: Any) -> Any:
    # numpy scalars and arrays show up in summaries and configs; store them as plain JSON
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"{type(obj).__name__} is not JSON serialisable")


def dumps(obj: Any) -> str:
    return json.dumps(obj, default=_json_default, sort_keys=True)


def proc_stat(pid: int) -> tuple[str, str] | None:
    """(state, start time in clock ticks) of a Linux process, or None where /proc is unavailable."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = text[text.rindex(")") + 2:].split()  # the command name may contain spaces and ')'
    return fields[0], fields[19]


def pid_alive(pid: int, start: str | None = None) -> bool:
    """Whether ``pid`` is a live process and, if ``start`` is given, the same one (pid not reused)."""
    if os.name == "nt":  # os.kill(pid, 0) would terminate the process on Windows: assume alive
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # exists, owned by another user
    stat = proc_stat(pid)
    if stat is None:
        return True
    state, started = stat
    # a zombie has exited but is not yet reaped by its parent; a different start time is a reused pid
    return state != "Z" and (start is None or started == start)


class SqliteStore:
    """One SQLite file, one connection per thread and process, errors as :class:`StoreError`."""

    def __init__(self, path: str | Path | None = None, *, timeout: float = 10.0) -> None:
        self.path = Path(path).expanduser() if path is not None else default_store_path()
        self.timeout = timeout
        self._local = threading.local()
        self._layer_counts: dict[int, int] = {}
        self._conn()  # open now so a bad path fails here, not at the first write

    # ------------------------------------------------------------------------------------ plumbing

    def _error(self, exc: BaseException) -> StoreError:
        msg = str(exc)
        fix = "pass another path (--store PATH) or set SKIPLAB_STORE"
        if isinstance(exc, sqlite3.DatabaseError) and ("not a database" in msg or "malformed" in msg):
            return StoreError(f"{self.path} is not a SkipLab run store (not an SQLite database, or corrupt); "
                              f"move it aside or {fix}")
        if "disk is full" in msg or "no space left" in msg.lower():
            return StoreError(f"the disk holding the run store {self.path} is full ({msg}); free some space (or "
                              f"delete old runs on the Runs page), or {fix}")
        if "locked" in msg or "busy" in msg:
            return StoreError(f"run store {self.path} stayed locked for over {self.timeout:g} s ({msg}); "
                              f"another process holds a long write; retry, or {fix}")
        if isinstance(exc, sqlite3.OperationalError | OSError) and any(
            s in msg.lower() for s in ("readonly", "read-only", "unable to open", "permission", "disk i/o")
        ):
            return StoreError(f"cannot open or write the run store {self.path} ({msg}); "
                              f"make {self.path.name} and {self.path.parent} writable, or {fix}")
        return StoreError(f"run store {self.path}: {type(exc).__name__}: {msg}")

    def _conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is not None and self._local.pid == os.getpid():
            return conn
        conn = self._open()
        self._local.conn, self._local.pid = conn, os.getpid()
        return conn

    def _open(self) -> sqlite3.Connection:
        parent = self.path.parent
        if parent.exists() and not parent.is_dir():
            raise StoreError(f"cannot create the run store {self.path}: {parent} is a file, not a directory; "
                             f"pass another path (--store PATH) or set SKIPLAB_STORE")
        try:
            parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(f"cannot create the directory {parent} for the run store ({exc.strerror}); "
                             f"pass another path (--store PATH) or set SKIPLAB_STORE") from None
        if self.path.is_dir():
            raise StoreError(f"the run store path {self.path} is a directory; pass a file path such as "
                             f"{self.path / 'runs.sqlite'}")
        conn: sqlite3.Connection | None = None
        try:
            # isolation_level=None: we issue BEGIN IMMEDIATE ourselves (see the module docstring)
            conn = sqlite3.connect(self.path, timeout=self.timeout, isolation_level=None)
            conn.execute(f"PRAGMA busy_timeout = {int(self.timeout * 1000)}")
            # a plain read decides whether to create the schema, so opening never takes the write lock
            # on an existing store (and a file deleted and re-created under us still gets its tables)
            try:
                version = conn.execute("SELECT MAX(version) FROM schema_version").fetchone()[0]
            except sqlite3.OperationalError as exc:
                if "no such table" not in str(exc):
                    raise
                version = None
            if version is None:
                self._init_schema(conn)
            elif version > SCHEMA_VERSION:
                raise StoreError(f"run store {self.path} has schema version {version}, newer than this "
                                 f"SkipLab ({SCHEMA_VERSION}); upgrade SkipLab or pass another path")
            conn.execute("PRAGMA synchronous = NORMAL")  # durable at checkpoints; plenty for metrics
        except (sqlite3.Error, StoreError) as exc:
            if conn is not None:
                conn.close()
            if isinstance(exc, StoreError):
                raise
            raise self._error(exc) from None
        return conn

    def _init_schema(self, conn: sqlite3.Connection) -> None:
        # 16 KiB pages: a layer_stats row (4 bytes x layers) wastes far less of a big page; 200 layers
        # x 10,000 steps x 4 stats is 40.7 MB at the default 4 KiB, 34.7 MB here (raw data: 32 MB).
        # Only takes effect on a new, empty file, and must come before the switch to WAL.
        conn.execute("PRAGMA page_size = 16384")
        deadline = time.monotonic() + self.timeout
        while True:  # switching a new file to WAL needs a moment of exclusive access: retry briefly
            try:
                mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
                break
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) or time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        if mode != "wal":
            log.warning("run store %s: journal mode is %s, not wal (network file system?)", self.path, mode)
        conn.execute("BEGIN IMMEDIATE")
        try:
            for stmt in filter(str.strip, SCHEMA.split(";")):
                conn.execute(stmt)
            # another process may have created the schema between our check and our lock
            if conn.execute("SELECT MAX(version) FROM schema_version").fetchone()[0] is None:
                conn.execute("INSERT INTO schema_version (version) VALUES (?)", (SCHEMA_VERSION,))
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        """A write transaction; sqlite errors come out as :class:`StoreError`."""
        conn = self._conn()
        try:
            conn.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as exc:
            raise self._error(exc) from None
        try:
            yield conn
        except BaseException as exc:
            with suppress(sqlite3.Error):  # the original error is the one worth reporting
                conn.execute("ROLLBACK")
            if isinstance(exc, sqlite3.Error):
                raise self._error(exc) from None
            raise
        else:
            try:
                conn.execute("COMMIT")
            except sqlite3.Error as exc:
                raise self._error(exc) from None

    def _query(self, sql: str, params: Iterable[Any] = ()) -> list[tuple[Any, ...]]:
        try:
            return self._conn().execute(sql, tuple(params)).fetchall()
        except sqlite3.Error as exc:
            raise self._error(exc) from None

    def _touch(self, conn: sqlite3.Connection, run_id: int) -> None:
        conn.execute("UPDATE runs SET heartbeat_at = ? WHERE id = ?", (time.time(), run_id))

    def close(self) -> None:
        """Close this thread's connection (others close when their threads end)."""
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None

    def __enter__(self) -> SqliteStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
