"""SQLite run store: the one channel between a training process (writer) and viewers (dashboard, CLI).

The file is ``$SKIPLAB_STORE`` (default ``~/.skiplab/runs.sqlite``) unless a path is passed.
Connections, transactions and errors live in :mod:`engine.store.db`; this module is the data model.

- Per-layer statistics are stored as ONE row per (run, step, statistic) holding a float32 array
  over the layers in layer order. 200 layers x 10,000 steps is then 10,000 rows per statistic
  (8 MB) rather than 2 million, which keeps the file small and a read a single index range scan.
- NaN cannot be stored in an SQLite REAL (it becomes NULL); NULL metric values read back as NaN,
  so a diverged loss survives the round trip.
- The writer records its pid, the pid's start time and its host, and every write refreshes
  ``heartbeat_at``; viewers use them to turn a run whose process died into ``interrupted``.
"""

from __future__ import annotations

import csv
import json
import logging
import os
import socket
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from engine.store.db import (
    F32,
    SCHEMA_VERSION,
    SqliteStore,
    StoreError,
    default_store_path,
    dumps,
    pid_alive,
    proc_stat,
)

__all__ = ["LAYER_STATS", "SCHEMA_VERSION", "STATUSES", "RunStore", "StoreError", "default_store_path",
           "pid_alive"]

log = logging.getLogger(__name__)

STATUSES = ("queued", "running", "done", "failed", "cancelled", "diverged", "interrupted")
TERMINAL_STATUSES = frozenset({"done", "failed", "cancelled", "diverged", "interrupted"})
LAYER_STATS = ("grad_norm", "grad_mean_abs", "grad_max_abs", "weight_norm", "update_ratio",
               "act_mean", "act_std", "act_zero_frac")
_LAYER_COLUMNS = ("name", "op", "stage", "block", "numel")
_RUN_COLUMNS = ("id", "name", "spec_json", "config_json", "dataset", "device", "status", "created_at",
                "started_at", "finished_at", "error", "world_size", "pid", "pid_start", "host",
                "heartbeat_at", "summary_json")


def _tables_with_run_id(c: Any) -> list[str]:
    tables = [row[0] for row in c.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
    return [t for t in tables if any(col[1] == "run_id" for col in c.execute(f'PRAGMA table_info("{t}")'))]


class RunStore(SqliteStore):
    """Runs, metrics, per-layer statistics and alerts in one SQLite file. Cheap to open; thread-safe."""

    # ------------------------------------------------------------------------------------ runs

    def create_run(self, name: str, spec: Mapping[str, Any], config: Mapping[str, Any], dataset: str,
                   device: str, status: str = "queued", *, world_size: int = 1) -> int:
        """Insert a run and return its id."""
        self._check_status(status)
        now = time.time()
        with self._tx() as c:
            cur = c.execute(
                "INSERT INTO runs (name, spec_json, config_json, dataset, device, status, created_at, "
                "started_at, world_size) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (name, dumps(dict(spec)), dumps(dict(config)), dataset, device, status, now,
                 now if status == "running" else None, world_size))
            return int(cur.lastrowid or 0)

    @staticmethod
    def _check_status(status: str) -> None:
        if status not in STATUSES:
            raise ValueError(f"unknown run status {status!r}; expected one of: {', '.join(STATUSES)}")

    def _update_run(self, run_id: int, sql: str, params: tuple[Any, ...]) -> None:
        with self._tx() as c:
            if c.execute(f"UPDATE runs SET {sql} WHERE id = ?", (*params, run_id)).rowcount == 0:
                raise StoreError(f"no run {run_id} in {self.path}; list runs with `python -m engine runs`")

    def set_status(self, run_id: int, status: str, error: str | None = None) -> None:
        """Set the status; stamps ``started_at`` on the first ``running`` and ``finished_at`` at the end."""
        self._check_status(status)
        now = time.time()
        self._update_run(
            run_id,
            "status = ?, error = ?, "
            "started_at = CASE WHEN ? AND started_at IS NULL THEN ? ELSE started_at END, "
            "finished_at = CASE WHEN ? THEN ? ELSE finished_at END, heartbeat_at = ?",
            (status, error, status == "running", now, status in TERMINAL_STATUSES, now, now))

    def transition(self, run_id: int, from_statuses: Iterable[str], status: str, error: str | None = None) -> bool:
        """Compare-and-set: move the run to ``status`` only if it is in one of ``from_statuses``.

        Atomic, so two processes racing to cancel or start the same run cannot both succeed.
        """
        self._check_status(status)
        allowed = list(from_statuses)
        now = time.time()
        marks = ", ".join("?" * len(allowed))
        with self._tx() as c:
            cur = c.execute(
                "UPDATE runs SET status = ?, error = COALESCE(?, error), "
                "started_at = CASE WHEN ? AND started_at IS NULL THEN ? ELSE started_at END, "
                f"finished_at = CASE WHEN ? THEN ? ELSE finished_at END WHERE id = ? AND status IN ({marks})",
                (status, error, status == "running", now, status in TERMINAL_STATUSES, now, run_id, *allowed))
            return cur.rowcount > 0

    def claim_next_queued(self, max_running: int) -> int | None:
        """Move the oldest ``queued`` run to ``running`` if fewer than ``max_running`` runs are running.

        One transaction, so job runners in several processes sharing a store respect the limit together.
        """
        now = time.time()
        with self._tx() as c:
            if c.execute("SELECT COUNT(*) FROM runs WHERE status = 'running'").fetchone()[0] >= max_running:
                return None
            row = c.execute("SELECT id FROM runs WHERE status = 'queued' ORDER BY id LIMIT 1").fetchone()
            if row is None:
                return None
            c.execute("UPDATE runs SET status = 'running', started_at = ?, heartbeat_at = ? WHERE id = ?",
                      (now, now, row[0]))
            return int(row[0])

    def set_pid(self, run_id: int, pid: int | None = None) -> None:
        """Record the writer process (default: this one) with its start marker and host."""
        pid = os.getpid() if pid is None else pid
        stat = proc_stat(pid)
        self._update_run(run_id, "pid = ?, pid_start = ?, host = ?, heartbeat_at = ?",
                         (pid, stat[1] if stat else None, socket.gethostname(), time.time()))

    def heartbeat(self, run_id: int) -> None:
        """Say the writer is alive; logging metrics or statistics does this too."""
        self._update_run(run_id, "heartbeat_at = ?", (time.time(),))

    def set_summary(self, run_id: int, summary: Mapping[str, Any]) -> None:
        self._update_run(run_id, "summary_json = ?", (dumps(dict(summary)),))

    def _run_dict(self, row: tuple[Any, ...]) -> dict[str, Any]:
        d = dict(zip(_RUN_COLUMNS, row, strict=True))
        for col in ("spec", "config", "summary"):
            raw = d.pop(f"{col}_json")
            d[col] = json.loads(raw) if raw is not None else None
        return d

    def get_run(self, run_id: int) -> dict[str, Any] | None:
        """The run as a dict (``spec``, ``config`` and ``summary`` decoded), or None."""
        rows = self._query(f"SELECT {', '.join(_RUN_COLUMNS)} FROM runs WHERE id = ?", (run_id,))
        return self._run_dict(rows[0]) if rows else None

    def list_runs(self, status: str | None = None) -> list[dict[str, Any]]:
        """All runs, newest first (optionally only those with ``status``)."""
        where, params = ("WHERE status = ?", (status,)) if status else ("", ())
        rows = self._query(f"SELECT {', '.join(_RUN_COLUMNS)} FROM runs {where} ORDER BY id DESC", params)
        return [self._run_dict(r) for r in rows]

    def delete_run(self, run_id: int, *, active: bool = False) -> bool:
        """Delete a finished run and everything logged for it, in every table of the store that refers to runs by
        ``run_id`` (the run tables, and those other modules add: sweep membership, landscapes ...); False if
        there was no such run.

        A queued or running run is refused (StoreError): its worker would go on training into a run that no
        longer exists, unseen, uncancellable and uncounted by the concurrency limit. Cancel it first
        (`JobRunner.delete` does both). ``active=True`` is for the writer itself, removing a run it just
        created and has not started."""
        with self._tx() as c:
            row = c.execute("SELECT status FROM runs WHERE id = ?", (run_id,)).fetchone()
            if row is not None and row[0] in ("queued", "running") and not active:
                raise StoreError(f"run {run_id} is {row[0]}: cancel it first (Cancel run on the Train page, or "
                                 f"`python -m engine runs --cancel {run_id}`), then delete it")
            for table in _tables_with_run_id(c):
                c.execute(f'DELETE FROM "{table}" WHERE run_id = ?', (run_id,))
            deleted = c.execute("DELETE FROM runs WHERE id = ?", (run_id,)).rowcount > 0
        self._layer_counts.pop(run_id, None)
        return deleted

    # ------------------------------------------------------------------------------------ liveness

    def mark_interrupted_if_dead(self, run_id: int, *, stale_after: float | None = None) -> bool:
        """Mark a ``running`` run ``interrupted`` if its writer is gone; True if it was marked.

        Dead means: the pid no longer exists, is a zombie, or was reused by a process with another
        start time. On another host the pid cannot be checked; ``stale_after`` (seconds without a
        heartbeat) covers that case, and a hung writer if the caller wants it to.
        """
        run = self.get_run(run_id)
        if run is None or run["status"] != "running":
            return False
        dead = False
        if run["pid"] is not None and run["host"] in (None, socket.gethostname()):
            dead = not pid_alive(int(run["pid"]), run["pid_start"])
        beat = run["heartbeat_at"] or run["started_at"] or run["created_at"]
        if stale_after is not None and time.time() - beat > stale_after:
            dead = True
        if not dead:
            return False
        msg = f"the training process (pid {run['pid']}) ended without reporting a result"
        with self._tx() as c:
            cur = c.execute(
                "UPDATE runs SET status = 'interrupted', finished_at = ?, error = COALESCE(error, ?) "
                "WHERE id = ? AND status = 'running'", (time.time(), msg, run_id))
            marked = cur.rowcount > 0
        if marked:
            log.info("run %d marked interrupted: %s", run_id, msg)
        return marked

    def reap_dead_runs(self, *, stale_after: float | None = None) -> list[int]:
        """Mark every ``running`` run whose writer is gone as ``interrupted``; returns their ids."""
        ids = [r[0] for r in self._query("SELECT id FROM runs WHERE status = 'running'")]
        marked = []
        for i in ids:
            try:
                if self.mark_interrupted_if_dead(i, stale_after=stale_after):
                    marked.append(i)
            except StoreError as exc:  # a read-only or full store can still be viewed; the mark waits
                log.warning("run %d: could not mark it interrupted: %s", i, exc)
                break
        return marked

    # ------------------------------------------------------------------------------------ layers

    def set_layers(self, run_id: int, layers: list[Mapping[str, Any]]) -> None:
        """The run's layers in depth order: ``name`` plus optional ``op``, ``stage``, ``block``, ``numel``."""
        rows = []
        for i, layer in enumerate(layers):
            if "name" not in layer:
                raise ValueError(f"layer {i} has no 'name': {dict(layer)}")
            extra = {k: v for k, v in layer.items() if k not in _LAYER_COLUMNS and k != "idx"}
            cols = (layer.get(k) for k in _LAYER_COLUMNS)
            rows.append((run_id, i, *cols, dumps(extra) if extra else None))
        with self._tx() as c:
            c.execute("DELETE FROM layers WHERE run_id = ?", (run_id,))
            c.executemany("INSERT INTO layers (run_id, idx, name, op, stage, block, numel, extra_json) "
                          "VALUES (?, ?, ?, ?, ?, ?, ?, ?)", rows)
        self._layer_counts[run_id] = len(rows)

    def get_layers(self, run_id: int) -> list[dict[str, Any]]:
        rows = self._query("SELECT idx, name, op, stage, block, numel, extra_json FROM layers "
                           "WHERE run_id = ? ORDER BY idx", (run_id,))
        out = []
        for idx, *vals, extra in rows:
            d: dict[str, Any] = {"idx": idx, **dict(zip(_LAYER_COLUMNS, vals, strict=True))}
            d.update(json.loads(extra) if extra else {})
            out.append(d)
        return out

    # ------------------------------------------------------------------------------------ metrics

    def log_metrics(self, run_id: int, step: int, metrics: Mapping[str, float]) -> None:
        self.log_metrics_many(run_id, [(step, metrics)])

    def log_metrics_many(self, run_id: int, rows: Iterable[tuple[int, Mapping[str, float]]]) -> None:
        """Scalar metrics for many steps in one transaction; a repeated (step, key) overwrites."""
        flat = [(run_id, int(step), str(k), float(v)) for step, m in rows for k, v in m.items()]
        with self._tx() as c:
            c.executemany("INSERT OR REPLACE INTO metrics (run_id, step, key, value) VALUES (?, ?, ?, ?)",
                          flat)
            self._touch(c, run_id)

    def get_metrics(self, run_id: int, keys: Iterable[str] | None = None,
                    since_step: int | None = None) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """``{key: (steps int64, values float64)}`` sorted by step; only steps > ``since_step`` if given."""
        if keys is None:
            keys = [r[0] for r in self._query("SELECT DISTINCT key FROM metrics WHERE run_id = ?", (run_id,))]
        out: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        for key in sorted(keys):
            rows = self._query("SELECT step, value FROM metrics WHERE run_id = ? AND key = ? AND step > ? "
                               "ORDER BY step", (run_id, key, -(2**62) if since_step is None else since_step))
            arr = np.array(rows, dtype=np.float64).reshape(-1, 2)  # NULL (stored NaN) -> nan
            out[key] = (arr[:, 0].astype(np.int64), arr[:, 1])
        return out

    def latest_step(self, run_id: int) -> int | None:
        """The last step with any metric or layer statistic, or None."""
        rows = self._query("SELECT MAX(s) FROM (SELECT MAX(step) AS s FROM metrics WHERE run_id = ? "
                           "UNION ALL SELECT MAX(step) FROM layer_stats WHERE run_id = ?)", (run_id, run_id))
        return None if rows[0][0] is None else int(rows[0][0])

    # ------------------------------------------------------------------------------------ layer stats

    def _expected_layers(self, run_id: int) -> int | None:
        if run_id not in self._layer_counts:
            n = self._query("SELECT COUNT(*) FROM layers WHERE run_id = ?", (run_id,))[0][0]
            if n == 0:  # no layer list: the first array logged fixes the length
                rows = self._query("SELECT length(data) FROM layer_stats WHERE run_id = ? LIMIT 1", (run_id,))
                n = rows[0][0] // F32.itemsize if rows else 0
            if n == 0:
                return None
            self._layer_counts[run_id] = n
        return self._layer_counts[run_id]

    def log_layer_stats(self, run_id: int, step: int, stats: Mapping[str, np.ndarray]) -> None:
        self.log_layer_stats_many(run_id, [(step, stats)])

    def log_layer_stats_many(
        self, run_id: int, rows: Iterable[tuple[int, Mapping[str, np.ndarray]]]
    ) -> None:
        """Per-layer statistics for many steps in one transaction: one row per (step, stat)."""
        expected = self._expected_layers(run_id)
        flat = []
        for step, stats in rows:
            for stat, values in stats.items():
                arr = np.asarray(values, dtype=F32)
                if arr.ndim != 1 or (expected is not None and arr.shape[0] != expected):
                    raise ValueError(f"layer stat {stat!r} at step {step} has shape {list(arr.shape)}; "
                                     f"expected [{expected if expected is not None else 'layers'}] "
                                     f"(one value per layer of run {run_id}, in layer order)")
                expected = arr.shape[0]
                flat.append((run_id, int(step), str(stat), arr.tobytes()))
        if expected is not None:
            self._layer_counts[run_id] = expected
        with self._tx() as c:
            c.executemany("INSERT OR REPLACE INTO layer_stats (run_id, step, stat, data) VALUES (?, ?, ?, ?)",
                          flat)
            self._touch(c, run_id)

    def get_layer_matrix(self, run_id: int, stat: str,
                         since_step: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """``(steps int64 [T], matrix float32 [layers, T])``; only steps > ``since_step`` if given."""
        rows = self._query("SELECT step, data FROM layer_stats WHERE run_id = ? AND stat = ? AND step > ? "
                           "ORDER BY step", (run_id, stat, -(2**62) if since_step is None else since_step))
        if not rows:
            return np.zeros(0, np.int64), np.zeros((self._expected_layers(run_id) or 0, 0), np.float32)
        steps = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
        flat = np.frombuffer(b"".join(r[1] for r in rows), dtype=F32)
        if flat.size % len(rows):
            raise StoreError(f"run {run_id} in {self.path}: {stat!r} rows have different layer counts; "
                             f"the layer list changed mid-run; read the steps separately")
        return steps, np.ascontiguousarray(flat.reshape(len(rows), -1).T, dtype=np.float32)  # [L, T]

    def get_layer_stats_at(
        self, run_id: int, step: int | None = None
    ) -> tuple[int, dict[str, np.ndarray]] | None:
        """``(step, {stat: values over layers})`` at the last logged step <= ``step`` (latest if None)."""
        upto = 2**62 if step is None else step
        found = self._query("SELECT MAX(step) FROM layer_stats WHERE run_id = ? AND step <= ?",
                            (run_id, upto))[0][0]
        if found is None:
            return None
        rows = self._query("SELECT stat, data FROM layer_stats WHERE run_id = ? AND step = ?",
                           (run_id, found))
        return int(found), {stat: np.frombuffer(data, dtype=F32).astype(np.float32) for stat, data in rows}

    def layer_stat_names(self, run_id: int) -> list[str]:
        rows = self._query("SELECT DISTINCT stat FROM layer_stats WHERE run_id = ? ORDER BY stat", (run_id,))
        return [r[0] for r in rows]

    # ------------------------------------------------------------------------------------ alerts

    def add_alert(
        self, run_id: int, step: int | None, kind: str, message: str, layer: str | None = None
    ) -> int:
        with self._tx() as c:
            cur = c.execute("INSERT INTO alerts (run_id, step, kind, layer, message, created_at) "
                            "VALUES (?, ?, ?, ?, ?, ?)", (run_id, step, kind, layer, message, time.time()))
            return int(cur.lastrowid or 0)

    def get_alerts(self, run_id: int, since_id: int | None = None) -> list[dict[str, Any]]:
        """Alerts in the order raised; ``since_id`` returns only newer ones (for polling)."""
        rows = self._query("SELECT id, step, kind, layer, message, created_at FROM alerts "
                           "WHERE run_id = ? AND id > ? ORDER BY id", (run_id, since_id or 0))
        cols = ("id", "step", "kind", "layer", "message", "created_at")
        return [dict(zip(cols, r, strict=True)) for r in rows]

    # ------------------------------------------------------------------------------------ export

    def export_csv(self, run_id: int, directory: str | Path) -> list[Path]:
        """Write ``metrics.csv`` (step, key, value) and ``layer_stats.csv`` (step, layer, stat, value)."""
        out = Path(directory)
        out.mkdir(parents=True, exist_ok=True)
        metrics_path, stats_path = out / "metrics.csv", out / "layer_stats.csv"
        with open(metrics_path, "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["step", "key", "value"])
            for key, (steps, values) in self.get_metrics(run_id).items():
                w.writerows(zip(steps.tolist(), [key] * len(steps), values.tolist(), strict=True))
        names = [layer["name"] for layer in self.get_layers(run_id)]
        with open(stats_path, "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["step", "layer", "stat", "value"])
            for stat in self.layer_stat_names(run_id):
                steps, matrix = self.get_layer_matrix(run_id, stat)
                labels = names if len(names) == matrix.shape[0] else [str(i) for i in range(matrix.shape[0])]
                for t, step in enumerate(steps.tolist()):
                    w.writerows((step, label, stat, v) for label, v in zip(labels, matrix[:, t].tolist(),
                                                                            strict=True))
        return [metrics_path, stats_path]
