"""Probes: extra measurements taken during training (`base`), and the built-in ones, registered on import:
the shortcut gradient share of residual blocks (`shortcut_share`, Veit et al. 2016)."""

from engine.train.probes import shortcut_share  # noqa: F401  (registers "shortcut_share")
from engine.train.probes.base import (
    PROBE_BATCH,
    PROBES,
    Measure,
    ProbeContext,
    ProbeRunner,
    get_probe,
    make_probe_runner,
    probe_names,
    register_probe,
)

__all__ = ["PROBES", "PROBE_BATCH", "Measure", "ProbeContext", "ProbeRunner", "get_probe", "make_probe_runner",
           "probe_names", "register_probe"]
