"""The graph view component: React Flow + ELK (frontend/, built into the committed frontend/dist) served by
Streamlit's components v1 from this folder, so nothing is fetched from a network at run time.

Python sends a graph model (`dashboard.graph_model`) as one JSON string; the component reports the user's
drawing actions as its value, ``{"event": ..., "nonce": ...}`` (see `dashboard.graph_edits.apply_event`):
``add_skip`` (from, to, merge, adapter), ``remove_skip`` (merge, edit), ``set_merge`` (merge, to, edit),
``wire`` / ``unwire`` (source, target: a graph spec's inputs) and ``select`` (name).
Folding, panning and the node panel stay in the browser. Rebuild with `npm ci && npm run build` in frontend/.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import streamlit.components.v1 as components

DIST = Path(__file__).resolve().parent / "frontend" / "dist"
_component = components.declare_component("skiplab_graph_view", path=str(DIST))


def graph_view(model: dict[str, Any], *, key: str, view_key: str, height: int = 620,
               on_change: Callable[[], None] | None = None) -> dict[str, Any] | None:
    """Draw `model`; returns the last drawing action (also in ``st.session_state[key]``)."""
    return _component(model=json.dumps(model, separators=(",", ":"), allow_nan=False), view_key=view_key,
                      height=height, key=key, default=None, on_change=on_change)
