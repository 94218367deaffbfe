"""Going to another page from a button: `st.switch_page` with the page's script as `dashboard/app.py` registers it
(`pages_index.page_dir`), never a path relative to wherever a test happened to start the app (issue 16: the
buttons raised StreamlitPageNotFoundError under the real entry point). Query parameters travel with the switch, so
the target page opens what the button meant (Train ``?run=ID``, Compare ``?runs=3,4``)."""

from __future__ import annotations

from typing import NoReturn

import streamlit as st

from dashboard.pages_index import PAGES, page_dir


def page_path(file: str) -> str:
    """The absolute path of a page's script, as `st.navigation` knows it."""
    if file not in {p.file for p in PAGES}:
        raise ValueError(f"no page {file!r}; pages: {', '.join(p.file for p in PAGES)}")
    return str(page_dir() / f"{file}.py")


def goto(file: str, **query: str) -> NoReturn:
    """Switch to page ``file`` (``"train"``), with ``query`` as its URL parameters."""
    st.switch_page(page_path(file), query_params=query or None)
    raise AssertionError("unreachable")  # st.switch_page raises to end this run
