"""Cached engine calls for the dashboard (analyses keyed by the spec's canonical JSON)."""

from __future__ import annotations

import streamlit as st

from engine.analysis import Analysis
from engine.api import summarize
from engine.spec import canonical_json, parse


@st.cache_data(show_spinner=False, max_entries=256)
def analysis_for(spec_json: str, batch: int = 1) -> Analysis:
    import json

    return summarize(parse(json.loads(spec_json)), batch=batch)


def analyze_spec(spec, batch: int = 1) -> Analysis:  # noqa: ANN001 - a SpecBase
    return analysis_for(canonical_json(spec), batch)
