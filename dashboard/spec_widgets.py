"""Widgets generated from a family's spec model: every knob of every family, without a page per family.

Literal -> select box, bool -> toggle, int -> number input, list[int] -> "3,32,32" text, list[model] ->
an editable table. The widgets return a new spec dict; validation stays in engine.spec.
"""

from __future__ import annotations

import types
import typing
from typing import Any, Literal, get_args, get_origin

import streamlit as st
from pydantic import BaseModel

from dashboard import text as safe
from engine.api import FAMILIES

SKIP = {"family", "edits", "nodes", "name"}

# Help text for knobs whose model field has no description of its own.
HELP = {
    "input": "Input shape without the batch dimension: C,H,W for images, features for vectors, length for tokens.",
    "num_classes": "Outputs of the classifier head.",
    "stem": "cifar: one 3x3 conv. imagenet: 7x7/2 conv + 3x3/2 max-pool (downsamples 4x).",
    "block": "basic: two 3x3 convs. bottleneck: 1x1 reduce, 3x3, 1x1 expand (x4); far cheaper at equal width.",
    "preact": "Pre-activation ordering BN-ReLU-conv (He et al. 2016b): a clean identity path from end to start.",
    "shortcut": "A: zero-pad identity (no params). B: 1x1 projection only where the shape changes. C: always. "
                "none: a plain net.",
    "norm": "Normalisation after each conv.",
    "zero_init_residual": "Zero the last BN gamma of each residual branch, so every block starts as the identity.",
    "stages": "One row per stage: blocks, width (inner width for bottlenecks) and stride (blank: 1 first, then 2).",
}


def _unwrap(annotation: Any) -> tuple[Any, bool]:
    """Strip Optional/Annotated: (inner type, optional?)."""
    optional = False
    while True:
        origin = get_origin(annotation)
        if origin is typing.Annotated:
            annotation = get_args(annotation)[0]
        elif origin in (typing.Union, types.UnionType):
            args = [a for a in get_args(annotation) if a is not type(None)]
            optional = optional or len(args) < len(get_args(annotation))
            annotation = args[0] if len(args) == 1 else annotation
            if len(args) != 1:
                return annotation, optional
        else:
            return annotation, optional


def _fits(ann: Any, optional: bool, value: Any) -> bool:
    """Whether a value (from a link or pasted YAML, so of any type) fits the knob's control. One that does not
    is left as it is for validation to name, and edited in the YAML tab: a control never crashes the page
    (``int("x")``) nor silently replaces the value."""
    if value is None:
        return optional or get_origin(ann) is list
    origin = get_origin(ann)
    if origin is Literal:
        return any(value == o and type(value) is type(o) for o in get_args(ann))
    if ann is bool:
        return isinstance(value, bool)
    if ann is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if ann is float:
        return isinstance(value, int | float) and not isinstance(value, bool)
    if ann is str:
        return isinstance(value, str)
    if origin is list:
        item = _unwrap(get_args(ann)[0])[0] if get_args(ann) else int
        if isinstance(item, type) and issubclass(item, BaseModel):
            return isinstance(value, list) and all(isinstance(v, dict) for v in value)
        return isinstance(value, list) and all(isinstance(v, int | float | str) and not isinstance(v, bool)
                                               for v in value)
    return True


def _list_text(values: list[Any]) -> str:
    return ",".join(str(v) for v in values)


def _parse_list(text: str, item: type) -> list[Any] | str:
    try:
        return [item(t) for t in text.replace(" ", "").split(",") if t != ""]
    except ValueError:
        return text  # left as text: spec validation names the field


def spec_widgets(spec: dict[str, Any], key: str) -> dict[str, Any]:
    """Render one widget per knob of the spec's family and return the edited spec dict."""
    model = FAMILIES.get(spec["family"]).spec_model
    out = dict(spec)
    simple = [(n, f) for n, f in model.model_fields.items() if n not in SKIP]
    tables = []
    cols = st.columns(3)
    i = 0
    for name, field in simple:
        ann, optional = _unwrap(field.annotation)
        origin = get_origin(ann)
        label = name.replace("_", " ")
        help_text = field.description or HELP.get(name)
        wkey = f"{key}_{name}"
        value = spec.get(name, field.get_default(call_default_factory=True))
        if isinstance(value, BaseModel):
            value = value.model_dump()
        if isinstance(value, list):  # a default list of models (a family's stages)
            value = [v.model_dump() if isinstance(v, BaseModel) else v for v in value]
        if not _fits(ann, optional, value):
            safe.caption(f"{label}: the value {value!r} does not fit this control; edit it in the YAML tab",
                         container=cols[i % 3])
            i += 1
            continue
        if origin is list and get_args(ann) and isinstance(get_args(ann)[0], type) and \
                issubclass(get_args(ann)[0], BaseModel):
            tables.append((name, get_args(ann)[0], value, help_text))
            continue
        col = cols[i % 3]
        i += 1
        if origin is Literal:
            options = list(get_args(ann))
            out[name] = col.selectbox(label, options, index=options.index(value) if value in options else 0,
                                      key=wkey, help=help_text)  # engine text
        elif ann is bool:
            out[name] = col.toggle(label, value=bool(value), key=wkey, help=help_text)  # engine text
        elif ann is int:
            if optional and value is None:
                text = col.text_input(label, "", key=wkey, help=(help_text or "") + " (blank: default)")  # engine text
                out[name] = int(text) if text.strip().lstrip("-").isdigit() else (None if not text.strip() else text)
            else:
                out[name] = int(col.number_input(label, value=int(value), step=1, key=wkey,  # engine text
                                                 help=help_text))
        elif ann is float:
            out[name] = float(col.number_input(label, value=float(value), key=wkey, help=help_text,  # engine text
                                               format="%.4g"))
        elif origin is list:
            item = get_args(ann)[0] if get_args(ann) else int
            item = _unwrap(item)[0]
            text = col.text_input(label, _list_text(value or []), key=wkey, help=help_text)  # engine text
            out[name] = _parse_list(text, item if item in (int, float, str) else str)
        elif ann is str:
            out[name] = col.text_input(label, str(value or ""), key=wkey, help=help_text)  # engine text
        # other annotations are edited in YAML
    for name, sub, value, help_text in tables:
        out[name] = _table_editor(name, sub, value or [], f"{key}_{name}", help_text)
    return out


def _table_editor(name: str, sub: type[BaseModel], rows: list[dict[str, Any]], key: str,
                  help_text: str | None) -> list[dict[str, Any]]:
    import pandas as pd  # here: the page's first numbers are drawn before pandas is loaded (issue 21)

    st.caption(f"**{name}** — {help_text}" if help_text else f"**{name}**")  # engine text
    fields = list(sub.model_fields)
    frame = pd.DataFrame([{f: r.get(f) for f in fields} for r in rows], columns=fields)
    for f in fields:
        frame[f] = frame[f].astype("Int64") if _unwrap(sub.model_fields[f].annotation)[0] is int else frame[f]
    edited = st.data_editor(frame, num_rows="dynamic", key=key, hide_index=True, width="stretch")
    result = []
    for rec in edited.to_dict("records"):
        clean = {k: (None if pd.isna(v) else (int(v) if isinstance(v, int | float) and float(v).is_integer() else v))
                 for k, v in rec.items()}
        if all(v is None for v in clean.values()):
            continue
        result.append({k: v for k, v in clean.items() if v is not None})
    return result
