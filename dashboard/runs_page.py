"""The Runs page's actions: filtering the table and deleting the selected runs (which disarms itself)."""

from __future__ import annotations

from typing import Any

import pandas as pd
import streamlit as st

from dashboard import text as safe


def filter_frame(frame: pd.DataFrame, query: str) -> pd.DataFrame:
    """Rows whose name, tags, family, dataset or status contain every word of ``query`` (case-insensitive)."""
    words = query.lower().split()
    if not words:
        return frame
    text = frame[["name", "tags", "family", "dataset", "status"]].astype(str).agg(" ".join, axis=1).str.lower()
    keep = pd.Series(True, index=frame.index)
    for w in words:
        keep &= text.str.contains(w, regex=False)
    return frame[keep]


def delete_selected(runner: Any, ids: list[int]) -> None:
    """Button callback (before the page redraws): delete (a queued or running run is cancelled first, its worker
    stops: `JobRunner.delete`), untick 'Confirm delete' and clear the table's selection, so the run that moves up
    into the selected row is never one click from deletion."""
    ss = st.session_state
    for run_id in ids:
        runner.delete(run_id)
    ss.runs_confirm = False
    ss.runs_rev = ss.get("runs_rev", 0) + 1  # a new table widget: no selection carried over
    safe.toast(f"Deleted {len(ids)} run{'s' if len(ids) != 1 else ''}: " + ", ".join(f"#{i}" for i in ids))
