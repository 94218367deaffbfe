"""The Experiments page's pieces: an options form generated from an experiment's pydantic options, the
progress of a running experiment, and each experiment's figures and generated conclusion."""

from __future__ import annotations

import os
import time
import types
import typing
from typing import Any

import streamlit as st

from dashboard import experiment_charts as ec
from dashboard import text as safe
from dashboard.landscape_view import render_experiment as render_landscape_experiment
from engine.api import experiments

PREFIX = "experiments"
SKIP_FIELDS = {"device"}  # always auto in the dashboard


def _literal_choices(annotation: Any) -> list[Any] | None:
    if typing.get_origin(annotation) is typing.Literal:
        return list(typing.get_args(annotation))
    return None


def _optional(annotation: Any) -> Any:
    """``X | None`` -> X (None otherwise)."""
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        return args[0] if len(args) == 1 else None
    return None


def options_form(exp: experiments.Experiment) -> dict[str, Any]:
    """One widget per option (defaults from the model); returns the values that differ from the defaults."""
    values: dict[str, Any] = {}
    fields = [(n, f) for n, f in exp.options.model_fields.items() if n not in SKIP_FIELDS]
    cols = st.columns(4)
    for i, (name, field) in enumerate(fields):
        col = cols[i % 4]
        key = f"{PREFIX}_{exp.name}_{name}"
        label, help_text, default = name.replace("_", " "), field.description, field.get_default(
            call_default_factory=True)
        ann = field.annotation
        inner = _optional(ann)
        if (choices := _literal_choices(ann)) is not None:
            value = col.selectbox(label, choices, index=choices.index(default), key=key, help=help_text)  # engine text
        elif typing.get_origin(ann) is list and (choices := _literal_choices(typing.get_args(ann)[0])) is not None:
            value = col.multiselect(label, choices, default=default, key=key, help=help_text)  # engine text
        elif typing.get_origin(ann) is list:
            text = col.text_input(label, ", ".join(str(v) for v in default), key=key, help=help_text)  # engine text
            try:
                value = [int(v) for v in text.replace(" ", "").split(",") if v]
            except ValueError:
                value = default
        elif ann is bool:
            value = col.checkbox(label, default, key=key, help=help_text)  # engine text
        elif ann is int or inner is int:
            value = col.number_input(label, value=default, step=1, key=key, help=help_text)  # engine text
            value = None if value is None else int(value)
        elif ann is float or inner is float:
            value = col.number_input(label, value=default, format="%.4g", key=key, help=help_text)  # engine text
        else:
            value = col.text_input(label, default or "", key=key, help=help_text) or None  # engine text
        if value != default:
            values[name] = value
    return values


def max_jobs() -> int:
    """Runs trained side by side: SKIPLAB_MAX_RUNS, else 2 on a machine with 2 or more cores."""
    return int(os.environ.get("SKIPLAB_MAX_RUNS", str(2 if (os.cpu_count() or 1) >= 2 else 1)))


def experiment_label(rec: dict[str, Any]) -> str:
    """What ran and when; not its status, which a select box would keep showing stale as the experiment moves on
    (the progress bar says it, live)."""
    when = time.strftime("%Y-%m-%d %H:%M", time.localtime(rec["created_at"]))
    return f"#{rec['id']} {rec['name']} · {when}"


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "?"
    m, sec = divmod(int(round(seconds)), 60)
    return f"{m}:{sec:02d}"


def progress_text(p: dict[str, Any]) -> str:
    """The bar's caption: status, runs done (and reused), the active runs, elapsed time and the ETA of the whole
    experiment (engine.lab.experiments.progress: the fraction is of the training work, weighted by each run's cost)."""
    current = "; ".join(f"{c['label']} s{c['seed']}: step {c['step']}/{c['steps']}" for c in p["current"])
    text = f"{p['status']} · runs {p['runs_done']}/{p['runs_total']} done"
    if p.get("runs_reused"):
        text += f" ({p['runs_reused']} reused)"
    if current:
        text += f" · {current}"
    elif p["phase"] != p["status"]:
        text += f" · {p['phase']}"
    text += f" · {_duration(p.get('elapsed_s'))} elapsed"
    if p["status"] == "running":
        text += f" · ETA {_duration(p.get('eta_s'))}"
    return text


def render_progress(p: dict[str, Any]) -> None:
    st.progress(min(1.0, p["fraction"]), text=safe.md(progress_text(p), 400))


def render_registered_claims(exp: experiments.Experiment) -> None:
    """The claims as registered in the recipe, before any run: finding, source, statistic, threshold and why."""
    rows = [{"kind": "check" if c.check else "claim", "claim": c.text, "source": c.source,
             "statistic": c.statistic, "held when": f"{'>' if c.direction == 'above' else '<'} {c.threshold:g}",
             "why this threshold": c.why, "the paper measured": c.paper_measured} for c in exp.claims]
    if rows:
        st.dataframe(rows, hide_index=True, width="stretch")
    if exp.setup:
        st.caption("Setup: " + safe.md(exp.setup, safe.MESSAGE_LIMIT))


_VERDICT_BOX = {"held": st.success, "did not hold": st.error, "inconclusive": st.warning}


def render_results(name: str, results: dict[str, Any], key: str) -> None:
    """The conclusion, each claim's verdict (held / did not hold / inconclusive), then the experiment's figures."""
    if not results:
        st.info("No results yet.")
        return
    st.markdown("**Conclusion.**")
    st.text(results.get("conclusion", ""))  # generated from run labels: shown literally, never as Markdown
    for c in results.get("claims", []):
        verdict = c.get("verdict") or ("held" if c["held"] else "did not hold")
        kind = "Check" if c.get("check") else "Claim"
        _VERDICT_BOX.get(verdict, st.info)(safe.md(f"{kind} {verdict}: {c['claim']} ({c.get('source', '')}) — "
                                                   f"{c['evidence']}", safe.MESSAGE_LIMIT))
    figs = results.get("figures", {})
    draw = _RENDERERS.get(name)
    if draw is not None:
        draw(figs, key)
    with st.expander("Numbers (JSON)"):
        st.json(results.get("numbers", {}), expanded=False)


def _two(figs: list[Any], key: str) -> None:
    cols = st.columns(2)
    for i, fig in enumerate(figs):
        safe.chart(fig, key=f"{key}_{i}", container=cols[i % 2])


def _degradation(f: dict[str, Any], key: str) -> None:
    _two([ec.band_curves(f["loss"], title="Training loss (mean ± std over seeds)", log_y=True),
          ec.band_curves(f["train_error"], title="Training error", y_title="error"),
          ec.band_curves(f["val_error"], title="Validation error", y_title="error")], key)


def _gradients(f: dict[str, Any], key: str) -> None:
    safe.chart(ec.ratio_figure(f["ratio"], f.get("alerts")), key=f"{key}_ratio")
    _two([ec.layer_profiles(f["profile_init"], title="Gradient norm per layer at init"),
          ec.layer_profiles(f["profile_end"], title="Gradient norm per layer at the end"),
          ec.band_curves(f["loss"], title="Training loss", log_y=True),
          ec.band_curves(f["val_acc"], title="Validation accuracy")], key)
    heat = f.get("heatmap", {})
    if heat:
        cols = st.columns(len(heat))
        for col, (conn, data) in zip(cols, heat.items(), strict=True):
            safe.chart(ec.log_heatmap(data, title=f"{conn}: log10 grad norm (seed 0)"), key=f"{key}_h_{conn}",
                       container=col)
    for conn, alerts in f.get("alerts", {}).items():
        for a in alerts[:3]:
            safe.warning(f"{conn}, seed {a['seed']}, step {a['step']}: {a['kind']} — {a['message']}")


def _lesion(f: dict[str, Any], key: str) -> None:
    safe.chart(ec.lesion_bars(f["single"]), key=f"{key}_bars")
    _two([ec.lesion_k_curve(f["k"]), ec.path_lengths(f["paths"])], key)


def _share(f: dict[str, Any], key: str) -> None:
    heat = f.get("heatmap", {})
    if heat.get("blocks"):
        _two([ec.share_heatmap(heat), ec.share_lines(heat)], key)
    if f.get("loss"):
        safe.chart(ec.band_curves(f["loss"], title="Training loss", log_y=True), key=f"{key}_loss")


def _unet(f: dict[str, Any], key: str) -> None:
    _two([ec.band_curves(f["val_iou"], title="Validation IoU"),
          ec.band_curves(f["iou"], title="Training IoU")], key)
    if f.get("images") and f.get("samples"):
        safe.chart(ec.segmentation_grid(f["images"], f["masks"], f["samples"]), key=f"{key}_grid")


def _transfer(f: dict[str, Any], key: str) -> None:
    _two([ec.band_curves(f["val_acc"], title="Validation accuracy on the digits subset (mean ± std over seeds)",
                         y_title="accuracy"),
          ec.band_curves(f["loss"], title="Training loss on the digits subset", log_y=True),
          ec.band_curves(f["pretrain_loss"], title="Pretraining loss on shapes", log_y=True)], key)


_RENDERERS = {"degradation": _degradation, "gradients": _gradients, "lesion": _lesion, "shortcut_share": _share,
               "unet_skips": _unet, "transfer": _transfer, "landscape": render_landscape_experiment}


@st.cache_resource(show_spinner=False)
def _exp_store(path: str | None) -> experiments.ExperimentStore:
    return experiments.ExperimentStore(path)


def get_experiment_store() -> experiments.ExperimentStore:
    return _exp_store(os.environ.get("SKIPLAB_STORE"))
