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
from dashboard.warmup import warm_in_background  # noqa: E402

# An emoji, not a Material icon: Streamlit fetches a Material favicon from fonts.gstatic.com (a request to another
# origin, and a broken icon offline); the emoji is drawn locally (its table costs ~0.1 s once per server).
st.set_page_config(page_title="SkipLab", page_icon="🔀", layout="wide")
pages = page_dir()
page = st.navigation([st.Page(pages / f"{p.file}.py", title=p.title, icon=p.icon, url_path=p.file,
                              default=p.default) for p in PAGES])
lesson_links.sidebar()  # under the navigation: where a student starts
try:
    page.run()
finally:  # after the first page is drawn (also when it stops early): torch and the trainer, off-thread
    warm_in_background()
