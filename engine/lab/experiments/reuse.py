"""Reusing trained runs: a planned run whose spec, training config (seed included) and code version match a run
already done in the store is not trained again; the experiment points at the stored run.

The code version is a hash of the engine's Python sources (every ``engine/**/*.py``), so any change to the code
that trains, builds or generates data makes old runs ineligible; it is stamped into the summary of each run an
experiment trains. Specs and configs are compared in their canonical stored form (defaults filled in), so
``{"steps": 300}`` and a config that spells out every default are the same run.
"""

from __future__ import annotations

import functools
import hashlib
import json
from pathlib import Path
from typing import Any

CODE_VERSION_KEY = "code_version"


@functools.lru_cache(maxsize=1)
def code_version() -> str:
    """sha256 (16 hex digits) of the engine package's Python sources, in path order."""
    root = Path(__file__).resolve().parents[2]  # engine/
    h = hashlib.sha256()
    for path in sorted(root.rglob("*.py")):
        if "__pycache__" in path.parts:
            continue
        h.update(path.relative_to(root).as_posix().encode())
        h.update(b"\0")
        h.update(path.read_bytes())
        h.update(b"\0")
    return h.hexdigest()[:16]


def canonical(spec: Any, config: Any) -> str:
    """One string for a (spec, config) pair: the forms the store saves, as sorted JSON."""
    from engine.arch import load_spec
    from engine.spec import to_dict
    from engine.train.config import parse_config

    return json.dumps({"spec": to_dict(load_spec(spec)), "config": parse_config(config).to_dict()},
                      sort_keys=True, separators=(",", ":"))


def stored_key(row: dict[str, Any]) -> str | None:
    try:
        return canonical(row["spec"], row["config"])
    except Exception:  # noqa: BLE001 - a run stored by an older version may no longer parse: not reusable
        return None


def reusable_runs(store: Any) -> dict[str, int]:
    """{canonical (spec, config): run id} of the store's finished runs trained by this code version (newest wins);
    a run whose saved weights are gone is not reusable (the lesion and U-Net analyses load them)."""
    found: dict[str, int] = {}
    version = code_version()
    for row in store.list_runs(status="done"):  # newest first
        summary = row.get("summary") or {}
        if summary.get(CODE_VERSION_KEY) != version:
            continue
        weights = summary.get("weights_path")
        if weights and not Path(weights).exists():
            continue
        key = stored_key(row)
        if key is not None:
            found.setdefault(key, int(row["id"]))
    return found


def stamp(store: Any, run_id: int) -> None:
    """Record the code version in a finished run's summary (only a run that finished is ever reused)."""
    row = store.get_run(run_id)
    if row is None or row.get("status") != "done":
        return
    summary = dict(row.get("summary") or {})
    if summary.get(CODE_VERSION_KEY) != code_version():
        summary[CODE_VERSION_KEY] = code_version()
        store.set_summary(run_id, summary)
