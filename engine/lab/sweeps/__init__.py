"""Sweeps: one base spec run over a grid or list of overrides (depth x shortcut x seed ...), queued through
the job runner and recorded in the store as one sweep the Compare page can open.

    python -m engine sweep SWEEP.yaml                  # run it here, N at a time
    python -m engine sweep SWEEP.yaml --print-commands # one torchrun command per entry, for a cluster
"""

from engine.lab.sweeps.definition import Entry, SweepDef, expand, load_sweep, parse_sweep, variant_label
from engine.lab.sweeps.run import SweepProgress, run_sweep, submit_sweep
from engine.store.sweeps import attach_run, create_sweep, get_sweep, list_sweeps

__all__ = ["Entry", "SweepDef", "SweepProgress", "attach_run", "create_sweep", "expand", "get_sweep",
           "list_sweeps", "load_sweep", "parse_sweep", "run_sweep", "submit_sweep", "variant_label"]
