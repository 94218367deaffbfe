"""SkipLab dashboard entry: `python -m streamlit run dashboard/app.py` from the repo root."""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # plain `streamlit run` does not put the repo root on sys.path
    sys.path.insert(0, str(ROOT))

import streamlit as st  # noqa: E402

from dashboard.pages_index import PAGES  # noqa: E402

st.set_page_config(page_title="SkipLab", page_icon="🔀", layout="wide")
page = st.navigation([st.Page(ROOT / "pages" / f"{p.file}.py", title=p.title, icon=p.icon, url_path=p.file,
                              default=p.default) for p in PAGES])
page.run()
