"""The dashboard's pages, in navigation order (one thin script per page), and where their scripts are."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent


@dataclass(frozen=True)
class PageInfo:
    file: str
    title: str
    icon: str
    default: bool = False


PAGES = [
    PageInfo("build", "Build", ":material/account_tree:", default=True),
    PageInfo("blocks", "Blocks", ":material/view_module:"),
    PageInfo("lessons", "Lessons", ":material/school:"),
    PageInfo("train", "Train", ":material/monitoring:"),
    PageInfo("compare", "Compare", ":material/compare_arrows:"),
    PageInfo("runs", "Runs", ":material/list_alt:"),
    PageInfo("experiments", "Experiments", ":material/science:"),
]


def page_dir() -> Path:
    """The folder of the page scripts: the top-level pages/ of a source tree, or `dashboard/page_scripts/` of an
    installed wheel (setup.py ships pages/ under that name)."""
    installed = HERE / "page_scripts"
    return installed if installed.is_dir() else HERE.parent / "pages"
