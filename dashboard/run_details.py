"""One run's details on the Runs page: its name, tags and notes (editable), a link that opens it, its config and
spec, and downloads."""

from __future__ import annotations

from typing import Any

import streamlit as st
import yaml

from dashboard import text as safe
from engine.api import SkipLabError, rename_run, run_archive, set_run_notes, set_run_tags


def run_link(run_id: int) -> str:
    """The address that opens the run on the Train page (the server's own address when Streamlit knows it)."""
    base = (getattr(st.context, "url", None) or "").split("?")[0].rstrip("/")
    for page in ("/runs", "/train", "/compare", "/experiments", "/build", "/blocks"):
        base = base.removesuffix(page)
    return f"{base}/train?run={run_id}"


def render_details(store: Any, run: dict[str, Any] | None, meta: dict[str, Any]) -> None:
    if run is None:
        return
    run_id = int(run["id"])
    with st.expander(f"Run #{run_id:d} details", expanded=True):
        if run.get("error"):
            safe.warning(run["error"])
        c = st.columns([3, 3])
        name = c[0].text_input("Name", run.get("name") or "", key=f"runs_name_{run_id}", max_chars=120)
        tags = c[1].text_input("Tags", ", ".join(meta.get("tags", [])), key=f"runs_tags_{run_id}",
                               placeholder="baseline, no-bn", help="Comma-separated; the table's filter finds them.")
        notes = st.text_area("Notes", meta.get("notes", ""), key=f"runs_notes_{run_id}", height=90,
                             placeholder="What this run was for, what you saw.")
        if st.button("Save name, tags and notes", key=f"runs_save_{run_id}"):
            try:
                if name.strip() != (run.get("name") or ""):
                    rename_run(store, run_id, name)
                set_run_tags(store, run_id, tags)
                set_run_notes(store, run_id, notes)
                safe.toast(f"Saved run #{run_id}")
                st.rerun()
            except SkipLabError as exc:
                safe.error(f"Could not save: {exc}")
        st.caption("Link to this run (opens it on the Train page):")
        st.code(run_link(run_id), language=None)
        left, right = st.columns(2)
        left.caption("Training config")
        right.caption("Spec")
        left.json(run.get("config") or {}, expanded=False)
        right.json(run.get("spec") or {}, expanded=False)
        cols = st.columns(3)
        for col, fmt in zip(cols, ("csv", "parquet"), strict=False):
            try:
                col.download_button(f"Metrics + layer stats ({fmt.upper()}, zip)",  # engine text
                                    run_archive(store, run_id, fmt), file_name=f"run{run_id}_{fmt}.zip",
                                    mime="application/zip", key=f"runs_dl_{fmt}",
                                    help="Long-format tables: step, layer, stat, value.")
            except SkipLabError as exc:
                safe.caption(exc, container=col)
        cols[2].download_button("Spec (YAML)", yaml.safe_dump(run.get("spec") or {}, sort_keys=False),
                                file_name=f"run{run_id}_spec.yaml", key="runs_dl_spec")
