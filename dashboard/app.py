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

from dashboard import lesson_links  # noqa: E402
from dashboard.pages_index import PAGES, page_dir  # noqa: E402
from dashboard.warmup import script_run, warm_in_background  # noqa: E402

# Our own SVG (a skip over three blocks), as a path: Streamlit sends it inline as a data: URI. Not a Material icon
# (Streamlit fetches those from fonts.gstatic.com: a request to another origin, a broken icon offline) and not an
# emoji (any string icon makes Streamlit load its emoji table, 0.12 s before the first page can draw; issue 21).
st.set_page_config(page_title="SkipLab", page_icon=Path(__file__).with_name("favicon.svg"), layout="wide")
pages = page_dir()
page = st.navigation([st.Page(pages / f"{p.file}.py", title=p.title, icon=p.icon, url_path=p.file,
                              default=p.default) for p in PAGES])
lesson_links.sidebar()  # under the navigation: where a student starts
try:
    with script_run():
        page.run()
finally:  # once the server is quiet after this run (also when it stopped early): torch and the trainer, off-thread
    warm_in_background()
