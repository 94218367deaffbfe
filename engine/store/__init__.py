"""One SQLite schema for runs, experiments, sweeps and landscapes: the only channel between writers (training processes)
and viewers (dashboard, CLI). Imports engine.core and engine.spec."""

from engine.store.db import SCHEMA_VERSION, StoreError, default_store_path, pid_alive
from engine.store.runs import LAYER_STATS, STATUSES, TERMINAL_STATUSES, RunStore

__all__ = ["LAYER_STATS", "SCHEMA_VERSION", "STATUSES", "TERMINAL_STATUSES", "RunStore", "StoreError",
           "default_store_path", "pid_alive"]
