"""Tables on the page: `st.dataframe` with numbers people can read (thousands separators on every integer column)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import streamlit as st

if TYPE_CHECKING:  # pandas loads with the first table, not with the page (issue 21)
    import pandas as pd


def number_columns(frame: pd.DataFrame, **explicit: Any) -> dict[str, Any]:
    """A column_config giving every integer column thousands separators ("25,557,032"); `explicit` entries win."""
    import pandas as pd

    config: dict[str, Any] = {}
    for name in frame.columns:
        if pd.api.types.is_integer_dtype(frame[name]) and not pd.api.types.is_bool_dtype(frame[name]) and name != "id":
            config[name] = st.column_config.NumberColumn(format="localized")
    config.update(explicit)
    return config


def show(frame: pd.DataFrame | list[dict[str, Any]], *, key: str, container: Any = None,
         column_config: dict[str, Any] | None = None, **kwargs: Any) -> Any:
    """`st.dataframe(frame)` full width without the index, integer columns with separators (rows: a frame of them)."""
    if isinstance(frame, list):
        import pandas as pd

        frame = pd.DataFrame(frame)
    target = container if container is not None else st
    return target.dataframe(frame, hide_index=True, width="stretch", key=key,
                            column_config=number_columns(frame, **(column_config or {})), **kwargs)


def summary_frame(analysis: Any, level: str) -> pd.DataFrame:
    """The Build page's table: one row per node, or the nodes folded into blocks or stages."""
    import pandas as pd

    a = analysis
    if level == "node":
        return pd.DataFrame([{"node": n.name, "op": n.op, "inputs": ", ".join(n.inputs), "output": str(n.out_shape),
                              "params": n.params, "MACs": n.macs, "FLOPs": n.flops, "role": n.role} for n in a.nodes])
    return pd.DataFrame([{level: g.name, "nodes": g.nodes, "params": g.params, "MACs": g.macs, "FLOPs": g.flops,
                          "% params": round(100 * g.params / max(a.params, 1), 2)} for g in a.rollup(level)])
