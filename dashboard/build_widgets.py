"""Small widgets of the Build page: choices that survive a changing option list, and a row of metrics that wraps."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import streamlit as st


def keep_choice(key: str, options: Sequence[Any]) -> None:
    """Keep the widget ``key``'s choice across reruns whose options change; drop it only when it is gone."""
    if key in st.session_state and st.session_state[key] not in options:
        del st.session_state[key]


def metric_row(metrics: Sequence[tuple[str, str, str | None, str]]) -> None:
    """Metrics (label, value, delta, help) side by side, each as wide as its number: a narrow screen wraps them
    onto a second line rather than cutting the number (Streamlit's equal columns cut "25,557,032" to "26…")."""
    row = st.container(horizontal=True, gap="large")
    for label, value, change, help_text in metrics:
        row.metric(label, value, change, delta_color="off", help=help_text, width="content")  # engine text
