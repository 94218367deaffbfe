"""Experiments from the literature, each a declarative recipe of runs plus an analysis of the stored runs.

    from engine.lab.experiments import create_experiment, execute, experiment_names
    exp_id = create_experiment("degradation", {"seeds": 2, "steps": 300}, store_path)
    results = execute(exp_id, store_path)      # {"conclusion": ..., "claims": [...], "numbers": ..., "figures": ...}

Experiments: degradation (He et al. 2016), gradients (init, BatchNorm and shortcuts at depth 50), lesion (Veit
et al. 2016), shortcut_share (gradient through the identity path), unet_skips (Ronneberger et al. 2015), transfer
(fine-tuning a pretrained ResNet vs training from scratch), landscape (Li et al. 2018 loss surfaces, Balduzzi et al.
2017 shattered gradients). Each registers its claims before any run (claims.py:
held / did not hold / inconclusive by the seeds' t-margin); a run already trained with the same spec, config and
code version is reused (reuse.py).
"""

from __future__ import annotations

# Importing the recipe modules registers them, in the order the UI lists them.
from engine.lab.experiments import (  # noqa: F401
    exp_degradation,
    exp_gradients,
    exp_lesion,
    exp_share,
    exp_transfer,
    exp_unet,
)

# isort: split
from engine.lab.experiments import exp_landscape  # noqa: F401 - listed after the others
from engine.lab.experiments.base import Experiment, ExperimentOptions, RunPlan, experiment_names, get_experiment
from engine.lab.experiments.driver import analyse, cancel, create_experiment, execute, launch, progress
from engine.store.experiments import EXP_ACTIVE, ExperimentStore

__all__ = ["EXP_ACTIVE", "Experiment", "ExperimentOptions", "ExperimentStore", "RunPlan", "analyse", "cancel",
           "create_experiment", "execute", "experiment_names", "get_experiment", "launch", "progress"]
