"""Pieces several recipes share: CIFAR-style ResNets of any depth and width, image-data options, run curves."""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
from pydantic import Field, field_validator

from engine.core.errors import SpecError
from engine.lab.experiments.base import ExperimentOptions, StoredRun
from engine.lab.experiments.stats import mean_band, series


class ImageOptions(ExperimentOptions):
    """The image classification recipes (He et al. 2016's CIFAR setting, or the built-in `shapes`)."""

    dataset: Literal["textures", "shapes", "cifar10"] = Field(
        "textures", description="textures or shapes (built in), or a local CIFAR-10 (He et al.'s data)")
    data_path: str | None = Field(None, description="cifar10: the extracted cifar-10-batches-py directory")
    image_size: int = Field(16, ge=8, le=64, description="built-in data only: image side in pixels (CIFAR is 32; "
                            "shapes needs 16 or more)")
    width: int = Field(8, ge=2, le=64, description="first-stage width; stages are w, 2w, 4w (He et al.: 16)")
    lr: float = Field(0.05, gt=0, description="SGD peak learning rate (He et al.: 0.1 at batch 128; 0.05 is that "
                      "scaled to batch 64, Goyal et al. 2017)")
    warmup: float = Field(0.0, ge=0, lt=1, description="fraction of the steps warming the lr up linearly (He et "
                          "al.: none up to 56 layers)")
    schedule: Literal["step", "cosine"] = Field("step", description="step: lr / 10 at 50% and 75% of the steps "
                                                "(He et al.: 32k and 48k of 64k)")
    weight_decay: float = Field(1e-4, ge=0, description="He et al.: 1e-4")

    @field_validator("data_path")
    @classmethod
    def _path(cls, v: str | None) -> str | None:
        return v or None


def check_depth(depth: int) -> int:
    if depth < 8 or (depth - 2) % 6:
        raise SpecError("depth", "a CIFAR ResNet has depth 6n + 2 with n >= 1 (8, 14, 20, 32, 44, 56, 110), "
                        f"got {depth}")
    return depth


def cifar_net(depth: int, shortcut: str, opts: ImageOptions, **extra: Any) -> dict[str, Any]:
    """He et al. 2016 sec. 4.2: 3 stages of (depth - 2) / 6 basic blocks; shortcut A (zero-pad) or none (plain)."""
    n = (depth - 2) // 6
    size = 32 if opts.dataset == "cifar10" else opts.image_size
    name = f"{'plain' if shortcut == 'none' else 'resnet'}{depth}"
    return {"family": "resnet", "name": name, "input": [3, size, size], "num_classes": 10, "stem": "cifar",
            "block": "basic", "shortcut": shortcut,
            "stages": [{"blocks": n, "width": w} for w in (opts.width, 2 * opts.width, 4 * opts.width)], **extra}


def image_config(opts: ImageOptions, seed: int, **extra: Any) -> dict[str, Any]:
    """The shared SGD config of the image recipes: He et al. 2016 sec. 4.2's recipe (SGD, momentum 0.9, weight
    decay 1e-4, lr / 10 at 32k and 48k of 64k iterations, no warm-up below 110 layers) at the recipe's own
    number of steps, with the milestones at the same fractions of the run."""
    from engine.lab.experiments.base import train_config

    dataset, data_opts = image_data(opts)
    sched: dict[str, Any] = {"schedule": opts.schedule, "weight_decay": opts.weight_decay}
    if opts.schedule == "step":
        sched["step_milestones"] = [opts.steps // 2, (3 * opts.steps) // 4]
    return train_config(opts, seed, dataset, dataset_options=data_opts, lr=opts.lr,
                        warmup_steps=int(opts.warmup * opts.steps), **{**sched, **extra})


def image_data(opts: ImageOptions) -> tuple[str, dict[str, Any]]:
    """(dataset name, dataset options) of an image recipe."""
    if opts.dataset == "cifar10":
        if not opts.data_path:
            from engine.core.errors import SpecError

            raise SpecError("options.data_path", "dataset cifar10 reads a local copy and never downloads; set "
                            "data_path to the extracted cifar-10-batches-py directory, or use dataset shapes")
        return "cifar10", {"path": opts.data_path}
    return opts.dataset, {"size": opts.image_size}


def curve_bands(store: Any, runs: list[StoredRun], key: str, transform: Any = None) -> dict[str, Any] | None:
    """Mean +- band over seeds of one metric; ``transform`` maps values (e.g. accuracy -> error)."""
    curves = []
    for r in runs:
        s = series(r, store, key)
        if s is not None:
            curves.append((s[0], transform(s[1]) if transform else s[1]))
    return mean_band(curves)


def error(acc: np.ndarray) -> np.ndarray:
    return 1.0 - np.asarray(acc, dtype=float)
