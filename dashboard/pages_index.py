"""The dashboard's pages, in navigation order (one thin script per page in the top-level pages/)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class PageInfo:
    file: str
    title: str
    icon: str
    default: bool = False


PAGES = [
    PageInfo("build", "Build", ":material/account_tree:", default=True),
    PageInfo("blocks", "Blocks", ":material/view_module:"),
    PageInfo("train", "Train", ":material/monitoring:"),
    PageInfo("compare", "Compare", ":material/compare_arrows:"),
    PageInfo("landscape", "Landscape", ":material/landscape:"),
    PageInfo("runs", "Runs", ":material/list_alt:"),
    PageInfo("experiments", "Experiments", ":material/science:"),
]
