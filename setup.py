"""The two things pyproject.toml cannot say (everything else is there).

- Packages: every package under engine/ and dashboard/, discovered, so a new subpackage ships without an edit here.
- The dashboard's page scripts: in the repository they stay in the top-level pages/ (the developers' guide runs
  `streamlit run dashboard/app.py` over st.navigation of pages/); the wheel carries the same files as
  `dashboard/page_scripts/`, inside the package, so an installed dashboard finds them beside its app.py and no
  top-level `pages` package is put into site-packages. `dashboard.pages_index.page_dir()` picks whichever exists.
  (Not `dashboard/pages/`: Streamlit treats a pages/ folder beside the main script as a v1 multipage app.)
"""

from setuptools import find_packages, setup

setup(
    packages=[*find_packages(include=["engine", "engine.*", "dashboard", "dashboard.*"]), "dashboard.page_scripts"],
    package_dir={"dashboard.page_scripts": "pages"},
    # Streamlit reads .streamlit/config.toml beside the main script, from any working directory; the graph view's
    # built front end is served by its component from the package (npm is never needed to run it).
    package_data={"dashboard": [".streamlit/config.toml", "favicon.svg"], "dashboard.graph_view": ["frontend/dist/*"]},
    include_package_data=False,
)
