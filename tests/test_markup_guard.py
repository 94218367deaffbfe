"""No page hands user text to a Streamlit call that renders Markdown, or a figure to Plotly, except through
dashboard/text.py (issue 14, class 2): a static check over pages/ and dashboard/, plus the helpers' own rules."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dashboard import text

ROOT = Path(__file__).resolve().parents[1]
SOURCES = sorted([*ROOT.glob("pages/*.py"), *ROOT.glob("dashboard/*.py")])
# Streamlit calls whose first argument (the body or label) is rendered as Markdown.
MARKDOWN_FIRST = {
    "markdown", "caption", "error", "warning", "info", "success", "toast", "title", "header", "subheader", "badge",
    "write", "metric", "button", "download_button", "link_button", "page_link", "checkbox", "toggle", "radio",
    "selectbox", "multiselect", "slider", "select_slider", "text_input", "number_input", "text_area", "date_input",
    "time_input", "file_uploader", "color_picker", "segmented_control", "pills", "expander", "popover",
    "form_submit_button", "status", "spinner", "feedback",
}
MARKDOWN_KEYWORDS = {"label", "body", "help", "text"}
METRIC_KEYWORDS = {"value", "delta"}  # st.metric renders its value and delta as Markdown too
# A call whose text is engine-defined (a spec model's field names, an experiment's claim) says so on its line.
TRUSTED = "# engine text"
METRIC_POSITIONAL = 3  # st.metric(label, value, delta) all render Markdown
OPTIONS_ARE_MARKDOWN = {"radio", "segmented_control", "pills"}  # selectbox / multiselect options are plain text
NEVER = {"plotly_chart", "table", "html"}  # figures go through text.chart; st.table cells are Markdown
SAFE_CALLS = {"md", "si", "fmt_bytes", "fmt_shape", "len", "int", "round", "float"}  # escaped, or numbers


def _call_name(node: ast.AST) -> str:
    if isinstance(node, ast.Call):
        f = node.func
        return f.attr if isinstance(f, ast.Attribute) else f.id if isinstance(f, ast.Name) else ""
    return ""


def _safe(node: ast.AST | None) -> bool:
    """Constant text, md(...) or numbers; f-strings and + of safe parts; a conditional of safe branches."""
    if node is None or isinstance(node, ast.Constant):
        return True
    if isinstance(node, ast.JoinedStr):
        return all(_safe(v) for v in node.values)
    if isinstance(node, ast.FormattedValue):
        spec = ast.unparse(node.format_spec) if node.format_spec else ""
        numeric = any(ch in spec for ch in ",.dfg%e")  # a number format: the value is a number
        return numeric or _safe(node.value)
    if isinstance(node, ast.BinOp):
        return _safe(node.left) and _safe(node.right)
    if isinstance(node, ast.IfExp):
        return _safe(node.body) and _safe(node.orelse)
    if isinstance(node, ast.List | ast.Tuple):
        return all(_safe(e) for e in node.elts)
    return _call_name(node) in SAFE_CALLS


def _called(call: ast.Call) -> list[str]:
    """The Streamlit method names a call may invoke: ``st.x(...)``, ``col.x(...)``, ``(st.x if c else st.y)(...)``;
    none for our own helpers (``safe.error``)."""
    funcs = [call.func.body, call.func.orelse] if isinstance(call.func, ast.IfExp) else [call.func]
    return [f.attr for f in funcs if isinstance(f, ast.Attribute)
            and not (isinstance(f.value, ast.Name) and f.value.id in ("safe", "text"))]


def _violations(path: Path) -> list[str]:
    source = path.read_text()
    lines = source.splitlines()
    found = []
    calls = [(n, name) for n in ast.walk(ast.parse(source)) if isinstance(n, ast.Call) for name in _called(n)]
    for call, name in calls:
        if any(TRUSTED in line for line in lines[call.lineno - 1: call.end_lineno]):
            continue
        where = f"{path.relative_to(ROOT)}:{call.lineno} st.{name}"
        if name in NEVER:
            found.append(f"{where}: use dashboard.text.chart / st.dataframe")
            continue
        if name not in MARKDOWN_FIRST and name != "tabs" and not any(k.arg == "help" for k in call.keywords):
            continue
        positional = call.args[:METRIC_POSITIONAL if name == "metric" else 1] if name in MARKDOWN_FIRST else []
        if name == "tabs":
            positional = call.args[:1]
        for arg in positional:
            if not _safe(arg):
                found.append(f"{where}: {ast.unparse(arg)[:60]} must go through md()")
        for kw in call.keywords:
            markdown = kw.arg in MARKDOWN_KEYWORDS or (name == "metric" and kw.arg in METRIC_KEYWORDS)
            if markdown and not _safe(kw.value):
                found.append(f"{where}: {kw.arg}={ast.unparse(kw.value)[:60]} must go through md()")
        if name in OPTIONS_ARE_MARKDOWN:
            options = call.args[1] if len(call.args) > 1 else next((k.value for k in call.keywords
                                                                    if k.arg == "options"), None)
            fmt = next((k.value for k in call.keywords if k.arg == "format_func"), None)
            if not _safe(options) and not (fmt is not None and "md(" in ast.unparse(fmt)):
                found.append(f"{where}: options are Markdown: constant options or format_func=md")
        if name == "markdown" and any(k.arg == "unsafe_allow_html" for k in call.keywords):
            found.append(f"{where}: unsafe_allow_html")
    return found


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(ROOT)))
def test_no_user_text_reaches_markdown_unescaped(path: Path) -> None:
    if path.name == "text.py":
        return  # the helpers themselves
    assert _violations(path) == []


def test_the_guard_catches_the_old_pattern(tmp_path: Path) -> None:
    bad = tmp_path / "page.py"
    bad.write_text('import streamlit as st\nst.error(f"Could not open the linked spec: {exc}")\n'
                   'st.plotly_chart(fig)\nst.metric(name, 1)\nst.radio("r", names)\nst.caption(f"{md(a)} {b}")\n'
                   '(st.error if bad else st.info)(run["error"])\nst.info(x)  # engine text\n')
    ROOT_copy = tmp_path  # noqa: N806 - relative_to needs a parent
    found = [v.split(": ", 1)[1] for v in _violations_in(bad, ROOT_copy)]
    assert len(found) == 7, found  # both branches of the conditional call; the trusted line passes


def _violations_in(path: Path, root: Path) -> list[str]:
    global ROOT
    saved, ROOT = ROOT, root
    try:
        return _violations(path)
    finally:
        ROOT = saved


HOSTILE = st.sampled_from(["[x](http://evil.example)", "![i](http://evil.example/i.png)", "<img src=x>",
                           "www.evil.example", "a@evil.example", "https://evil.example", ":red[x]", "$x$",
                           "**b**", "`c`", "\\", "\u202e", "\n\n# h"]) | st.text(max_size=30)


@settings(max_examples=200, deadline=None)
@given(st.lists(HOSTILE, max_size=4).map("".join))
def test_md_output_has_no_markdown_syntax(value: str) -> None:
    out = text.md(value, 10_000)
    assert "\n" not in out
    for i, c in enumerate(out):  # every Markdown-special character is escaped
        if c in "[]()!<>*_`$:#&|~@." and out[i - 1: i] != "\\":
            raise AssertionError(f"unescaped {c!r} in {out!r}")
    resolved = re.sub(r"\\(.)", r"\1", out).lower()  # the text after parsing, where autolinks are found
    assert not re.search(r"https?://|www\.|[-.\w+]@|:[a-z/]", resolved), resolved


def test_md_bounds_length() -> None:
    assert len(text.md("x" * 10_000)) <= text.LABEL_LIMIT
    assert text.md("a" * 200, 10).endswith("…")


def test_plot_escapes_html_and_tex() -> None:
    assert text.plot('<a href="http://e">x</a> $y$') == '&lt;a href="http://e"&gt;x&lt;/a&gt; &#36;y&#36;'


def test_safe_figure_keeps_our_tags_and_escapes_the_rest() -> None:
    import plotly.graph_objects as go

    fig = go.Figure(go.Scatter(x=["<a href='http://e'>n</a>"], y=[1], name="<span style='x'>s</span>",
                               hovertemplate="<b>%{x}</b><br>%{y:$.2f}<extra></extra>"))
    fig.update_layout(title="$x$ <img src=http://e>")
    safe = text.safe_figure(fig).to_dict()
    trace = safe["data"][0]
    assert trace["x"] == ["&lt;a href='http://e'&gt;n&lt;/a&gt;"]
    assert trace["name"] == "&lt;span style='x'&gt;s&lt;/span&gt;"
    assert trace["hovertemplate"] == "<b>%{x}</b><br>%{y:$.2f}<extra></extra>"
    assert safe["layout"]["title"]["text"] == "&#36;x&#36; &lt;img src=http://e&gt;"


def test_file_stem() -> None:
    assert text.file_stem('../../etc/passwd"\r\n') == "etc_passwd"
    assert text.file_stem("") == "model"
