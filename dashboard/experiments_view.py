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
            value = col.selectbox(label, choices, index=choices.index(default), key=key, help=help_text)
        elif typing.get_origin(ann) is list and (choices := _literal_choices(typing.get_args(ann)[0])) is not None:
            value = col.multiselect(label, choices, default=default, key=key, help=help_text)
        elif typing.get_origin(ann) is list:
            text = col.text_input(label, ", ".join(str(v) for v in default), key=key, help=help_text)
            try:
                value = [int(v) for v in text.replace(" ", "").split(",") if v]
            except ValueError:
                value = default
        elif ann is bool:
            value = col.checkbox(label, default, key=key, help=help_text)
        elif ann is int or inner is int:
            value = col.number_input(label, value=default, step=1, key=key, help=help_text)
            value = None if value is None else int(value)
        elif ann is float or inner is float:
            value = col.number_input(label, value=default, format="%.4g", key=key, help=help_text)
        else:
            value = col.text_input(label, default or "", key=key, help=help_text) or None
        if value != default:
            values[name] = value
    return values


def max_jobs() -> int:
    return int(os.environ.get("SKIPLAB_MAX_RUNS", "1"))


def experiment_label(rec: dict[str, Any]) -> str:
    when = time.strftime("%m-%d %H:%M", time.localtime(rec["created_at"]))
    return f"#{rec['id']} {rec['name']} · {rec['status']} · {when}"


def render_progress(p: dict[str, Any]) -> None:
    current = "; ".join(f"{c['label']} s{c['seed']}: step {c['step']}/{c['steps']}" for c in p["current"])
    text = f"**{p['status']}** · runs {p['runs_done']}/{p['runs_total']} done"
    if current:
        text += f" · {current}"
    elif p["phase"] != p["status"]:
        text += f" · {p['phase']}"
    st.progress(min(1.0, p["fraction"]), text=text)


def render_results(name: str, results: dict[str, Any], key: str) -> None:
    """The conclusion, the claims as held / not held, then the experiment's figures."""
    if not results:
        st.info("No results yet.")
        return
    st.markdown(f"**Conclusion.** {results.get('conclusion', '')}")
    for c in results.get("claims", []):
        (st.success if c["held"] else st.error)(f"**{'Held' if c['held'] else 'Did not hold'}:** {c['claim']} — "
                                                f"{c['evidence']}")
    figs = results.get("figures", {})
    draw = _RENDERERS.get(name)
    if draw is not None:
        draw(figs, key)
    with st.expander("Numbers (JSON)"):
        st.json(results.get("numbers", {}), expanded=False)


def _two(figs: list[Any], key: str) -> None:
    cols = st.columns(2)
    for i, fig in enumerate(figs):
        cols[i % 2].plotly_chart(fig, key=f"{key}_{i}")


def _degradation(f: dict[str, Any], key: str) -> None:
    _two([ec.band_curves(f["loss"], title="Training loss (mean ± std over seeds)", log_y=True),
          ec.band_curves(f["train_error"], title="Training error", y_title="error"),
          ec.band_curves(f["val_error"], title="Validation error", y_title="error")], key)


def _gradients(f: dict[str, Any], key: str) -> None:
    st.plotly_chart(ec.ratio_figure(f["ratio"], f.get("alerts")), key=f"{key}_ratio")
    _two([ec.layer_profiles(f["profile_init"], title="Gradient norm per layer at init"),
          ec.layer_profiles(f["profile_end"], title="Gradient norm per layer at the end"),
          ec.band_curves(f["loss"], title="Training loss", log_y=True),
          ec.band_curves(f["val_acc"], title="Validation accuracy")], key)
    heat = f.get("heatmap", {})
    if heat:
        cols = st.columns(len(heat))
        for col, (conn, data) in zip(cols, heat.items(), strict=True):
            col.plotly_chart(ec.log_heatmap(data, title=f"{conn}: log10 grad norm (seed 0)"), key=f"{key}_h_{conn}")
    for conn, alerts in f.get("alerts", {}).items():
        for a in alerts[:3]:
            st.warning(f"{conn}, seed {a['seed']}, step {a['step']}: **{a['kind']}** — {a['message']}")


def _lesion(f: dict[str, Any], key: str) -> None:
    st.plotly_chart(ec.lesion_bars(f["single"]), key=f"{key}_bars")
    _two([ec.lesion_k_curve(f["k"]), ec.path_lengths(f["paths"])], key)


def _share(f: dict[str, Any], key: str) -> None:
    heat = f.get("heatmap", {})
    if heat.get("blocks"):
        _two([ec.share_heatmap(heat), ec.share_lines(heat)], key)
    if f.get("loss"):
        st.plotly_chart(ec.band_curves(f["loss"], title="Training loss", log_y=True), key=f"{key}_loss")


def _unet(f: dict[str, Any], key: str) -> None:
    _two([ec.band_curves(f["val_iou"], title="Validation IoU"),
          ec.band_curves(f["iou"], title="Training IoU")], key)
    if f.get("images") and f.get("samples"):
        st.plotly_chart(ec.segmentation_grid(f["images"], f["masks"], f["samples"]), key=f"{key}_grid")


_RENDERERS = {"degradation": _degradation, "gradients": _gradients, "lesion": _lesion, "shortcut_share": _share,
              "unet_skips": _unet, "landscape": render_landscape_experiment}


@st.cache_resource(show_spinner=False)
def _exp_store(path: str | None) -> experiments.ExperimentStore:
    return experiments.ExperimentStore(path)


def get_experiment_store() -> experiments.ExperimentStore:
    return _exp_store(os.environ.get("SKIPLAB_STORE"))
