"""Cached engine handles for the dashboard: analyses keyed by the spec's canonical JSON, one store handle."""

from __future__ import annotations

import json

import streamlit as st

from engine.analysis import Analysis
from engine.api import summarize
from engine.spec import canonical_json, parse
from engine.store import RunStore


@st.cache_data(show_spinner=False, max_entries=256)
def analysis_for(spec_json: str, batch: int = 1) -> Analysis:
    return summarize(parse(json.loads(spec_json)), batch=batch)


def analyze_spec(spec, batch: int = 1) -> Analysis:  # noqa: ANN001 - a SpecBase
    return analysis_for(canonical_json(spec), batch)


@st.cache_resource(show_spinner=False)
def _store(path: str | None) -> RunStore:
    return RunStore(path)


def get_store() -> RunStore:
    """The run store (SKIPLAB_STORE or ~/.skiplab/runs.sqlite). Connections are per thread inside RunStore."""
    import os

    return _store(os.environ.get("SKIPLAB_STORE"))


def run_label(run: dict) -> str:
    return f"#{run['id']} {run.get('name') or ''} · {run.get('status')}"
