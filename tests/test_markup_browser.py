"""Hostile user text in a real browser (issue 14, class 2): a spec name, node names, keys, edit targets and a run
label carrying Markdown links and images, raw HTML, autolinks and TeX reach the page through the app's own ways
in (shared ``?spec=`` links and a run trained from the CLI). Each must show as text: no request leaves for
another origin and no element takes a link, image or style from the text.

Screenshots land in artifacts/screenshots/markup_*.png."""

from __future__ import annotations

import os
import subprocess
import sys
from urllib.parse import quote

import pytest
import yaml

from dashboard.urlstate import encode_spec
from tests.browser_support import (
    ROOT,
    browser_missing,
    screenshot,
    streamlit_server,
    wait_idle,
)

pytestmark = [pytest.mark.browser, pytest.mark.skipif(bool(browser_missing()), reason=browser_missing() or "ok")]

EVIL = "evil.example"
HOSTILE = (f"![i](http://{EVIL}/md.png) [log in again](http://{EVIL}/login) <img src=http://{EVIL}/html.png> "
           f'<a href="http://{EVIL}/a">a</a> <span style="background:url(http://{EVIL}/css.png)">s</span> '
           f"www.{EVIL} me@{EVIL} https://{EVIL}/auto $x$ :red[red]")
RESNET8 = {"family": "resnet", "input": [3, 16, 16], "num_classes": 4, "stages": [{"blocks": 1, "width": 8}]}
LINKS = {  # where a user's text appears -> the spec a shared link carries
    "spec_name": {**RESNET8, "name": HOSTILE},
    "key": {**RESNET8, HOSTILE: 1},
    "node_name": {"family": "graph", "input": [4], "nodes": [{"name": HOSTILE, "op": "linear", "out_features": 2}]},
    "remove_target": {**RESNET8, "edits": [{"remove_skip": HOSTILE}]},
    "skip_source": {**RESNET8, "edits": [{"add_skip": {"from": HOSTILE, "to": "head.fc"}}]},
}
# Any element whose link, source or style comes from the text; any request to another origin.
MARKUP_FROM_TEXT = """() => {
  const found = [];
  for (const el of document.querySelectorAll('*')) {
    for (const a of el.attributes) {
      const risky = ['href', 'src', 'srcset', 'xlink:href', 'style', 'action', 'poster', 'background'];
      if (a.value.includes('EVIL') && (risky.includes(a.name) || ['A', 'IMG', 'IMAGE'].includes(el.tagName)))
        found.push(el.tagName + ' ' + a.name + '=' + a.value.slice(0, 80));
    }
  }
  return found;
}""".replace("EVIL", EVIL)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory):  # noqa: ANN201
    """A store holding one run trained from the CLI with the hostile spec name (its run label)."""
    root = tmp_path_factory.mktemp("markup")
    store, spec = root / "runs.sqlite", root / "hostile.yaml"
    spec.write_text(yaml.safe_dump({"family": "mlp", "name": HOSTILE, "input": [1, 8, 8], "depth": 3, "width": 8}))
    subprocess.run([sys.executable, "-m", "engine", "train", str(spec), "--dataset", "digits", "--steps", "6",
                    "--store", str(store)], cwd=ROOT, check=True, capture_output=True, timeout=300,
                   env={**os.environ, "OMP_NUM_THREADS": "1"})
    with streamlit_server(store) as url:
        yield url


@pytest.fixture
def page(browser, server):  # noqa: ANN001, ANN201
    context = browser.new_context(viewport={"width": 1400, "height": 1100})
    pg = context.new_page()
    pg.set_default_timeout(90_000)
    pg.offsite = []  # type: ignore[attr-defined]
    pg.on("request", lambda r: pg.offsite.append(r.url) if not r.url.startswith((server, "data:", "blob:")) else None)
    yield pg
    context.close()


def _check(page, name: str, *, shown: bool = True) -> None:  # noqa: ANN001
    wait_idle(page)
    page.wait_for_timeout(1500)  # images and fonts the page asked for have been requested by now
    screenshot(page, f"markup_{name}")
    assert page.evaluate(MARKUP_FROM_TEXT) == []
    assert page.offsite == [], page.offsite
    if shown:  # the text is on the page, as text
        assert page.evaluate(f"() => document.body.textContent.includes('{EVIL}')"), "the text is not shown"


@pytest.mark.parametrize("where", list(LINKS))
def test_shared_link_text_stays_text(page, server, where: str) -> None:  # noqa: ANN001
    page.goto(f"{server}/?spec={quote(encode_spec(LINKS[where]))}")  # Build is the default page
    page.get_by_text("Start from a preset").wait_for()
    if where == "spec_name":  # a valid spec: its name is in the YAML editor and the download names
        page.get_by_role("tab", name="YAML").click()
        page.wait_for_function(f"() => [...document.querySelectorAll('textarea')].some(t => t.value.includes("
                               f"'{EVIL}/login'))")
    else:
        page.get_by_text("This architecture does not build").wait_for()
    _check(page, where, shown=where != "spec_name")  # a textarea's value is not its textContent


@pytest.mark.parametrize("where", ["train", "runs", "compare"])
def test_run_label_stays_text(page, server, where: str) -> None:  # noqa: ANN001
    page.goto(f"{server}/{where}")
    page.get_by_text(where.capitalize(), exact=True).first.wait_for()
    if where == "compare":  # the run label is the legend of the curves and the title of the heatmap
        page.locator(".js-plotly-plot").first.wait_for()
        page.wait_for_function(f"() => [...document.querySelectorAll('.js-plotly-plot')]"
                               f".some(p => p.textContent.includes('{EVIL}'))")
    elif where == "train":  # the run picker shows the label (an input's value, not textContent)
        page.wait_for_function(f"() => [...document.querySelectorAll('input')].some(i => i.value.includes('{EVIL}'))")
    _check(page, f"run_{where}", shown=where == "compare")  # the Runs table is a canvas
