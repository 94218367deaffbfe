"""Tables on the page: `st.dataframe` with numbers people can read (thousands separators on every integer column)."""

from __future__ import annotations

from typing import Any

import pandas as pd
import streamlit as st


def number_columns(frame: pd.DataFrame, **explicit: Any) -> dict[str, Any]:
    """A column_config giving every integer column thousands separators ("25,557,032"); `explicit` entries win."""
    config: dict[str, Any] = {}
    for name in frame.columns:
        if pd.api.types.is_integer_dtype(frame[name]) and not pd.api.types.is_bool_dtype(frame[name]) and name != "id":
            config[name] = st.column_config.NumberColumn(format="localized")
    config.update(explicit)
    return config


def show(frame: pd.DataFrame, *, key: str, container: Any = None, column_config: dict[str, Any] | None = None,
         **kwargs: Any) -> Any:
    """`st.dataframe(frame)` full width without the index, integer columns with separators."""
    target = container if container is not None else st
    return target.dataframe(frame, hide_index=True, width="stretch", key=key,
                            column_config=number_columns(frame, **(column_config or {})), **kwargs)
