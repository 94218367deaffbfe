"""Sweep data for the Compare page: the seeds of each variant aggregated into a mean and a band (mean +- one
sample standard deviation over seeds). Pure functions over the store; no Streamlit here."""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from engine.api import RunStore, get_sweep, list_sweeps

Series = dict[str, tuple[np.ndarray, np.ndarray]]


def sweep_labels(store: RunStore) -> dict[str, int]:
    """``"#3 depth-vs-shortcut (12 runs)"`` -> sweep id, newest first."""
    return {f"#{s['id']} {s['name']} ({s['runs']} runs)": s["id"] for s in list_sweeps(store)}


def load(store: RunStore, sweep_id: int) -> dict[str, Any] | None:
    return get_sweep(store, sweep_id)


def by_variant(sweep: dict[str, Any]) -> dict[str, list[int]]:
    """Variant label -> its run ids (one per seed), in entry order."""
    out: dict[str, list[int]] = {}
    for m in sweep["runs"]:
        out.setdefault(m["variant"], []).append(m["run_id"])
    return out


def aggregate(curves: list[tuple[np.ndarray, np.ndarray]]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(x, mean, std) over curves sampled at possibly different x: the union of x, NaN where a curve has no
    value (a run that diverged early stops contributing); std is 0 where a single curve has a value."""
    xs = np.unique(np.concatenate([np.asarray(x) for x, _ in curves])) if curves else np.zeros(0)
    grid = np.full((len(curves), len(xs)), np.nan)
    for i, (x, y) in enumerate(curves):
        grid[i, np.searchsorted(xs, np.asarray(x))] = np.asarray(y, dtype=np.float64)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN columns stay NaN
        mean = np.nanmean(grid, axis=0)
        n = np.sum(~np.isnan(grid), axis=0)
        std = np.where(n > 1, np.nanstd(grid, axis=0, ddof=1), 0.0)
    return xs, mean, np.nan_to_num(std)


def metric_bands(store: RunStore, sweep: dict[str, Any], keys: tuple[str, ...]) -> tuple[Series, Series]:
    """Per variant: (steps, mean) of the first of ``keys`` each run logged, and (low, high) = mean -+ std."""
    series: Series = {}
    bands: Series = {}
    for variant, run_ids in by_variant(sweep).items():
        curves = []
        for run_id in run_ids:
            data = store.get_metrics(run_id, list(keys))
            found = next((data[k] for k in keys if k in data and len(data[k][0])), None)
            if found is not None:
                curves.append(found)
        if not curves:
            continue
        x, mean, std = aggregate(curves)
        series[variant] = (x, mean)
        if len(curves) > 1:
            bands[variant] = (mean - std, mean + std)
    return series, bands


def depth_bands(store: RunStore, sweep: dict[str, Any], stat: str = "grad_norm") -> tuple[Series, Series]:
    """Per variant: the per-layer ``stat`` at each run's last logged step against relative depth (0 = input,
    1 = output), mean and band over seeds, so variants of different depth share one axis."""
    series: Series = {}
    bands: Series = {}
    for variant, run_ids in by_variant(sweep).items():
        profiles = []
        for run_id in run_ids:
            found = store.get_layer_stats_at(run_id)
            if found and stat in found[1] and found[1][stat].size:
                profiles.append(np.asarray(found[1][stat], dtype=np.float64))
        sizes = {len(p) for p in profiles}
        if len(sizes) != 1:  # none logged yet, or seeds of one variant disagree on the layers (cannot average)
            continue
        stack = np.stack(profiles)
        depth = np.linspace(0.0, 1.0, stack.shape[1])
        mean = stack.mean(axis=0)
        series[variant] = (depth, mean)
        if len(profiles) > 1:
            std = stack.std(axis=0, ddof=1)
            # a log axis cannot draw a band reaching zero or below: floor it at a tenth of the mean
            bands[variant] = (np.maximum(mean - std, mean / 10), mean + std)
    return series, bands
