"""Choosing runs: their labels in select boxes, and the run in the URL (``?run=ID`` on Train, ``?runs=3,4`` on
Compare), so a link opens a run and the page's own buttons (Runs → Open in Train) open it the same way.

Labels carry no status: a select box keeps showing the label it drew, so a status in it goes stale while the run
moves on (the progress bar says the status, live).
"""

from __future__ import annotations

from typing import Any

import streamlit as st

from dashboard import text as safe

ss = st.session_state


def run_label(run: dict[str, Any]) -> str:
    return f"#{run['id']} {run.get('name') or ''}".rstrip()


def run_options(runs: list[dict[str, Any]]) -> dict[int, str]:
    """Run id -> label, newest first (the store's order)."""
    return {int(r["id"]): run_label(r) for r in runs}


def _ids(text: str) -> list[int] | None:
    try:
        return [int(t) for t in str(text).split(",") if t.strip()]
    except ValueError:
        return None


def linked_run(ids: list[int], key: str) -> None:
    """Select the run of the URL's ``?run=ID`` in the widget ``key``, once per link (then the user's choice wins)."""
    raw = st.query_params.get("run")
    if raw is None or raw == ss.get(f"{key}_link"):
        return
    ss[f"{key}_link"] = raw
    found = _ids(raw)
    if found and len(found) == 1 and found[0] in ids:
        ss[key] = found[0]
    else:
        safe.warning(f"The link asks for run {raw}, which is not in this store; showing the newest run instead.")


def show_run_in_url(run_id: int, key: str = "train_watch") -> None:
    """Put the run shown in the URL (a copy of the address opens it) and remember it as applied."""
    st.query_params["run"] = str(run_id)
    ss[f"{key}_link"] = str(run_id)


def linked_runs(ids: list[int], key: str) -> None:
    """Compare's ``?runs=3,4``: select those runs in the multiselect ``key``, once per link."""
    raw = st.query_params.get("runs")
    if raw is None or raw == ss.get(f"{key}_link"):
        return
    ss[f"{key}_link"] = raw
    found = _ids(raw)
    picked = [i for i in found or [] if i in ids][:4]
    if picked:
        ss[key] = picked
    if not found or len(picked) != len(found):
        safe.warning(f"The link names runs ({raw}) that are not all in this store; showing those that are.")


def show_runs_in_url(run_ids: list[int], key: str) -> None:
    text = ",".join(str(i) for i in run_ids)
    if text:
        st.query_params["runs"] = text
    elif "runs" in st.query_params:
        del st.query_params["runs"]
    ss[f"{key}_link"] = text or None
