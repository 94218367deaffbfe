"""SkipLab dashboard entry: `python -m streamlit run dashboard/app.py` from the repo root, or `skiplab app` once the
package is installed. Settings (upload cap, theme, no usage statistics) are in `.streamlit/config.toml` beside this
file, which Streamlit reads from any working directory."""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # plain `streamlit run` does not put the repo root on sys.path
    sys.path.insert(0, str(ROOT))

import streamlit as st  # noqa: E402

from dashboard.pages_index import PAGES, page_dir  # noqa: E402
from dashboard.warmup import warm_in_background  # noqa: E402

# A Material icon, not an emoji: an emoji favicon makes Streamlit load its whole emoji table on every first run.
st.set_page_config(page_title="SkipLab", page_icon=":material/alt_route:", layout="wide")
pages = page_dir()
page = st.navigation([st.Page(pages / f"{p.file}.py", title=p.title, icon=p.icon, url_path=p.file,
                              default=p.default) for p in PAGES])
try:
    page.run()
finally:  # after the first page is drawn (also when it stops early): torch and the trainer, off-thread
    warm_in_background()
