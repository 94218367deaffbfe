"""Cached engine handles for the dashboard: analyses keyed by the spec's canonical JSON, one store handle."""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from typing import Any, NoReturn

import streamlit as st

from dashboard import text as safe
from engine.api import (
    Analysis,
    Evaluation,
    RunStore,
    SkipLabError,
    StoreError,
    canonical_json,
    evaluate,
    parse,
    summarize,
)


@st.cache_data(show_spinner=False, max_entries=256)
def analysis_for(spec_json: str, batch: int = 1) -> Analysis:
    return summarize(parse(json.loads(spec_json)), batch=batch)


def analyze_spec(spec, batch: int = 1) -> Analysis:  # noqa: ANN001 - a SpecBase
    return analysis_for(canonical_json(spec), batch)


def evaluate_spec(spec: dict[str, Any], batch: int = 1) -> Evaluation:
    """`engine.api.evaluate`, cached by the spec's canonical JSON and the batch: a rerun that changes no knob (a
    table folding, a tab, a download) reuses the evaluation, and so does going back to an earlier value. A spec
    that does not validate is evaluated uncached: the error path stops at the spec and costs nothing."""
    try:
        key = canonical_json(parse(spec))
    except SkipLabError:
        return evaluate(spec, batch=batch)
    return _evaluation(key, batch)


@st.cache_data(show_spinner=False, max_entries=32)
def _evaluation(spec_json: str, batch: int) -> Evaluation:
    return evaluate(json.loads(spec_json), batch=batch)


def python_code_file(spec_json: str) -> Callable[[], str]:
    """The PyTorch-code download as a callable, run only when the button is clicked (st.download_button runs it on
    its own thread): writing the code builds the model, seconds for a resnet152, which no knob change should pay.
    A spec whose ops cannot be written as code gets a file that says why, as comments."""

    def make() -> str:
        try:
            return _python_code(spec_json)
        except SkipLabError as exc:  # every line a comment: the message may quote a user's names
            text = f"SkipLab could not write this model as PyTorch code: {exc}"
            return "".join(f"# {line}\n" for line in text.splitlines())

    return make


@functools.lru_cache(maxsize=8)  # not st.cache_data: this runs on the download's thread, outside any script run
def _python_code(spec_json: str) -> str:
    from engine.api import export_python

    return export_python(parse(json.loads(spec_json)))


@st.cache_resource(show_spinner=False)
def _store(path: str | None) -> RunStore:
    return RunStore(path)


def get_store() -> RunStore:
    """The run store (SKIPLAB_STORE or ~/.skiplab/runs.sqlite). Connections are per thread inside RunStore.
    A store that cannot be opened stops the page with the reason and the fix; the other pages keep working."""
    import os

    try:
        return _store(os.environ.get("SKIPLAB_STORE"))
    except StoreError as exc:
        store_unavailable(exc)


def store_unavailable(exc: Exception) -> NoReturn:
    st.error("**The run store is not available.** " + safe.md(exc, safe.MESSAGE_LIMIT))
    st.caption("Build still works: it needs no store. Fix the store, then reload this page.")
    st.stop()
    raise AssertionError("unreachable")  # st.stop raises


@st.cache_resource(show_spinner=False)
def _runner(path: str | None, max_concurrent: int):  # noqa: ANN202 - engine.train.runner.JobRunner
    from engine.api import get_runner as engine_runner

    return engine_runner(path, max_concurrent=max_concurrent)


def get_runner():  # noqa: ANN201
    """The job runner of this store. Runs execute in child processes; their state lives in the store, so a
    restarted dashboard re-attaches. SKIPLAB_MAX_RUNS caps concurrent runs (default 1: two cores)."""
    import os

    try:
        return _runner(os.environ.get("SKIPLAB_STORE"), int(os.environ.get("SKIPLAB_MAX_RUNS", "1")))
    except StoreError as exc:
        store_unavailable(exc)
