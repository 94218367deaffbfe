"""PNGs of stored landscapes, drawn by the dashboard's own figure builders in headless Chromium (no kaleido, no CDN:
plotly.js is inlined from the installed package).

    PYTHONPATH=. python tools/landscape_pngs.py --store runs.sqlite --runs 1 2 --out artifacts/landscape

Writes, for the runs given (their newest 2-D surface): contours side by side on one colour scale, the 3-D
surfaces, the Hessian ratio maps, the surfaces' own curvature maps, their newest 1-D curves overlaid when they have
any, and the newest shattering measure in the store.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import plotly.graph_objects as go
from plotly.subplots import make_subplots

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from dashboard import landscape_charts as lc  # noqa: E402
from engine.api import RunStore, landscape_store  # noqa: E402
from tests.browser_support import CHROMIUM, CHROMIUM_FLAGS  # noqa: E402


def side_by_side(figs: list[go.Figure], titles: list[str], *, scene: bool = False,
                 zrange: tuple[float, float] | None = None) -> go.Figure:
    spec = [{"type": "scene" if scene else "xy"} for _ in figs]
    out = make_subplots(rows=1, cols=len(figs), subplot_titles=titles, specs=[spec], horizontal_spacing=0.08)
    for i, f in enumerate(figs, start=1):
        for tr in f.data:
            if i > 1 and hasattr(tr, "showscale"):
                tr.showscale = False  # one colour bar: the scale is shared
            out.add_trace(tr, row=1, col=i)
        if not scene:
            out.update_yaxes(scaleanchor=f"x{i if i > 1 else ''}", scaleratio=1, title_text="beta", row=1, col=i)
            out.update_xaxes(title_text="alpha", row=1, col=i)
    if scene:  # every scene on the same z range and from the same eye, so the shapes compare
        common = {"camera": {"eye": {"x": 1.6, "y": 1.6, "z": 1.1}}, "xaxis_title": "alpha", "yaxis_title": "beta",
                  "zaxis_title": "log10 loss", "aspectmode": "cube"}
        if zrange:
            common["zaxis"] = {"range": list(zrange)}
        out.update_layout(**{f"scene{i if i > 1 else ''}": common for i in range(1, len(figs) + 1)})
    out.update_layout(width=560 * len(figs), height=560, showlegend=False, margin={"l": 40, "r": 40, "t": 60, "b": 40})
    return out


def render(figs: dict[str, go.Figure], out: Path) -> list[Path]:
    from playwright.sync_api import sync_playwright

    out.mkdir(parents=True, exist_ok=True)
    written = []
    with tempfile.TemporaryDirectory() as tmp, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        page = browser.new_page(viewport={"width": 1200, "height": 600})
        for name, fig in figs.items():
            html = Path(tmp) / f"{name}.html"
            fig.write_html(str(html), include_plotlyjs=True, full_html=True)
            page.set_viewport_size({"width": int(fig.layout.width or 900) + 40, "height": int(fig.layout.height or 500)
                                    + 40})
            page.goto(html.as_uri())
            page.wait_for_selector(".js-plotly-plot")
            page.wait_for_timeout(1500)  # WebGL (3-D) draws after the DOM is ready
            path = out / f"{name}.png"
            page.screenshot(path=str(path), full_page=True)
            written.append(path)
        browser.close()
    return written


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--store", required=True)
    ap.add_argument("--runs", type=int, nargs="+", required=True)
    ap.add_argument("--out", default="artifacts/landscape")
    ap.add_argument("--prefix", default="")
    args = ap.parse_args()
    store, ls = RunStore(args.store), landscape_store(args.store)
    names = {i: str((store.get_run(i) or {}).get("name") or i) for i in args.runs}
    two = {i: rec["result"] for i in args.runs if (rec := ls.latest(i, dim=2, direction="random"))}
    one = {names[i]: rec["result"] for i in args.runs if (rec := ls.latest(i, dim=1))}
    figs: dict[str, go.Figure] = {}
    if two:
        zr = lc.shared_range(list(two.values()))
        titles = [names[i] for i in two]
        figs["contours"] = side_by_side([lc.loss_contour(r, zrange=zr) for r in two.values()], titles)
        figs["surfaces3d"] = side_by_side([lc.loss_surface_3d(r, zrange=zr) for r in two.values()], titles, scene=True,
                                          zrange=zr)
        maps = [lc.curvature_map(r) for r in two.values()]
        if all(m is not None for m in maps):
            figs["hessian_maps"] = side_by_side(maps, [f"{t}: Hessian |λmin/λmax|" for t in titles])
        smaps = [lc.surface_curvature_map(r) for r in two.values()]
        if all(m is not None for m in smaps):
            figs["surface_curvature"] = side_by_side(smaps, [f"{t}: surface curvature ratio" for t in titles])
    if one:
        figs["curves1d"] = lc.curves_1d(one).update_layout(width=900, height=450)
    shatters = ls.list(kind="shatter", status="done")
    if shatters:
        rec = ls.get(shatters[0]["id"])
        figs["shatter"] = lc.shatter_curves(rec["result"]).update_layout(width=900, height=450)
        figs["shatter_gradients"] = lc.shatter_gradients(rec["result"]).update_layout(width=900, height=400)
    figs = {f"{args.prefix}{k}": v for k, v in figs.items()}
    for path in render(figs, Path(args.out)):
        print(path)


if __name__ == "__main__":
    main()
