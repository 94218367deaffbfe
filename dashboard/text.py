"""User text on the page: shown literally, length-bounded, never as Markdown or HTML.

Spec names, node names, keys, field paths, edit targets, run labels, file names and error messages that quote
them come from users and shared links. Streamlit renders Markdown in message boxes, captions, metric and widget
labels, tabs, expanders, help tooltips and radio / segmented-control options (links and images included:
``![x](http://…)`` fetches a remote image without a click), and Plotly renders a subset of HTML (``<a href>``,
``<span style>``) and ``$…$`` as TeX in every string of a figure. So:

- `md` escapes text for any Markdown context (every ASCII punctuation character backslash-escaped, which
  CommonMark defines as literal; control and bidi characters made visible) and bounds its length;
- `error`, `warning`, `info`, `success`, `caption`, `toast` show a message literally (the whole text escaped);
- `plot` escapes text for a Plotly string, and `chart` shows a figure after `safe_figure` has made every string
  in it safe (only bare formatting tags such as ``<b>``, ``<br>`` survive; links, styles and TeX do not);
- `file_stem` makes a download file name from a spec name.

Pages never pass user text to those Streamlit calls directly; tests/test_markup_guard.py checks that. The module
imports Streamlit only when a message is shown, so the pure figure builders can use `plot`.
"""

from __future__ import annotations

import html
import re
import string
from typing import Any

LABEL_LIMIT = 120  # names, labels, keys: one line
MESSAGE_LIMIT = 1200  # an error message: a paragraph

_MD_SPECIAL = set(string.punctuation)  # CommonMark: any ASCII punctuation may be backslash-escaped
_SAFE_TAG = re.compile(r"</?(b|i|em|strong|sup|sub|br|extra)\s*/?>", re.IGNORECASE)
_ANY_TAG = re.compile(r"<[^<>]*>?")
_WJ = "\u2060"  # WORD JOINER: zero width, no line break
_WWW = re.compile(r"www\.", re.IGNORECASE)
_AT = re.compile(r"(?<=[-.+\w])@")
_COLON = re.compile(r":(?=\S)")


def bounded(text: Any, limit: int = LABEL_LIMIT) -> str:
    """`text` as a string of at most `limit` characters (an ellipsis marks a cut)."""
    text = str(text)
    return text if len(text) <= limit else text[: max(limit - 1, 0)] + "…"


def _visible(c: str) -> str:
    """Control, format (bidi) and separator characters as escapes; newlines and tabs as a space."""
    if c in "\n\t":
        return " "
    return c if c.isprintable() else repr(c)[1:-1]


def md(text: Any, limit: int = LABEL_LIMIT) -> str:
    """`text` for a Markdown context (st.error, st.caption, widget labels …): shown literally, one line, bounded.

    Backslash escapes stop links, images, HTML, emphasis and TeX at parse time. Streamlit's GFM autolinks
    (``www.``, ``https://``, ``a@b.c``), colour directives (``:red[…]``) and icon / emoji shortcodes are found
    later, in the parsed text, where escapes are gone: an invisible word joiner (U+2060) after a ``:`` that is
    followed by more text (``https://``, ``:red[``, ``:smile:``), before an ``@`` that follows a word character and
    inside ``www.`` breaks those patterns without changing what the reader sees (``field: message`` keeps its
    plain colon, so copied messages stay clean)."""
    plain = "".join(_visible(c) for c in bounded(text, limit))
    plain = _COLON.sub(":" + _WJ, _AT.sub(_WJ + "@", _WWW.sub(lambda m: m.group(0)[:3] + _WJ + ".", plain)))
    return "".join("\\" + c if c in _MD_SPECIAL else c for c in plain)


def plain(markdown: str) -> str:
    """What a reader sees of `md` output (escapes and word joiners removed): for tests and logs."""
    return re.sub(r"\\(.)", r"\1", markdown).replace(_WJ, "")


def plot(text: Any, limit: int = LABEL_LIMIT) -> str:
    """`text` for a Plotly string (title, trace name, hover, tick, annotation): HTML and TeX shown literally."""
    plain = "".join(_visible(c) for c in bounded(text, limit))
    return html.escape(plain, quote=False).replace("$", "&#36;")


# ---- messages ------------------------------------------------------------------------------------------------


def _st() -> Any:
    import streamlit as st  # here, so the figure builders can use `plot` without importing Streamlit

    return st


def error(text: Any, container: Any = None) -> None:
    (container if container is not None else _st()).error(md(text, MESSAGE_LIMIT))


def warning(text: Any, container: Any = None) -> None:
    (container if container is not None else _st()).warning(md(text, MESSAGE_LIMIT))


def info(text: Any, container: Any = None) -> None:
    (container if container is not None else _st()).info(md(text, MESSAGE_LIMIT))


def success(text: Any, container: Any = None) -> None:
    (container if container is not None else _st()).success(md(text, MESSAGE_LIMIT))


def caption(text: Any, container: Any = None) -> None:
    (container if container is not None else _st()).caption(md(text, MESSAGE_LIMIT))


def toast(text: Any) -> None:
    _st().toast(md(text, LABEL_LIMIT * 2))


# ---- figures --------------------------------------------------------------------------------------------------


def _safe_string(text: str, key: str) -> str:
    """Keep bare formatting tags (ours: ``<b>``, ``<br>``, ``<extra>``); escape every other tag, and ``$`` outside
    number formats (Plotly renders ``$…$`` as TeX)."""
    def tag(m: re.Match[str]) -> str:
        return m.group(0) if _SAFE_TAG.fullmatch(m.group(0)) else html.escape(m.group(0), quote=False)

    out = _ANY_TAG.sub(tag, text)
    if "$" in out and not key.endswith(("template", "format")):
        out = out.replace("$", "&#36;")
    return out


def _walk(value: Any, key: str = "") -> Any:
    if isinstance(value, str):
        return _safe_string(value, key) if ("<" in value or "$" in value) else value
    if isinstance(value, dict):
        return {k: _walk(v, k) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_walk(v, key) for v in value]
    if hasattr(value, "dtype") and getattr(value.dtype, "kind", "") in "OUS":  # numpy arrays of strings
        return [_walk(v, key) for v in value.tolist()]
    return value


def safe_figure(fig: Any) -> Any:
    """A copy of a Plotly figure in which no string can create a link, a styled element or TeX."""
    import plotly.graph_objects as go

    return go.Figure(_walk(fig.to_dict()))


def chart(fig: Any, *, key: str, container: Any = None, **kwargs: Any) -> Any:
    """`st.plotly_chart` of `safe_figure(fig)`: the one way figures reach the page."""
    return (container if container is not None else _st()).plotly_chart(safe_figure(fig), key=key, **kwargs)


# ---- files ----------------------------------------------------------------------------------------------------


def file_stem(text: Any, default: str = "model") -> str:
    """A download file name stem from a spec name: letters, digits, ``-`` and ``_`` only, at most 60."""
    from engine.api import file_stem as stem

    return stem(str(text), default)
