"""Starting a run from a checkpoint: load what maps (engine.export.checkpoints), keep or renew the head, freeze the
stem and the stages up to one, and tell the optimizer which parameters were loaded.

- ``init_from``: a local .pth / .safetensors file, or ``run:ID`` (the final weights of a run of the same store,
  resolved by `resolve_source`).
- ``freeze``: ``stem``, ``stage1`` ... ``stageN`` (the stem and every stage up to and including that one), or
  ``backbone`` (everything but the classifier: a linear probe). Frozen parameters get no gradient and are in no
  optimizer group; their BatchNorms run in eval mode, so their running statistics stay those of the checkpoint
  (as torchvision's detection models freeze BN, "FrozenBatchNorm2d"). Frozen layers are reported to the monitor
  as such: their zero gradient is by design, not a vanishing gradient.
- ``loaded_lr_scale``: the learning rate of the loaded (and not frozen) parameters relative to ``lr``: the common
  fine-tuning recipe of a smaller rate for pretrained layers than for the new head (Howard & Ruder 2018,
  "discriminative fine-tuning"; Kornblith et al. 2019 sec. 3).
"""

from __future__ import annotations

import hashlib
import logging
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from torch import nn

from engine.core.errors import SpecError
from engine.export.checkpoints import TransferReport, load_checkpoint
from engine.export.layouts import skiplab_slot, split_key
from engine.ir.graph import Graph
from engine.train.config import TrainConfig

log = logging.getLogger(__name__)

RUN_REF = re.compile(r"run:(\d+)")
PLAN_REF = "plan:"  # an experiment's reference to an earlier run of its own plan (engine.lab.experiments.driver)
BACKBONE = "backbone"


@dataclass
class InitState:
    """What a run started from; `record` is stored with the run (summary ``init``)."""

    source: str | None = None  # as given: a path or run:ID
    path: str | None = None
    sha256: str | None = None
    report: TransferReport | None = None
    frozen_modules: list[str] = field(default_factory=list)
    frozen_params: int = 0
    trainable_params: int = 0
    loaded_params: set[str] = field(default_factory=set)  # parameter names (model.named_parameters) loaded

    def record(self) -> dict[str, Any]:
        r = self.report
        return {"from": self.source, "path": self.path, "sha256": self.sha256,
                "layout": r.layout if r else None, "loaded": len(r.loaded_keys) if r else 0,
                "model_tensors": r.n_model if r else 0, "complete": r.complete if r else False,
                "head_new": r.head_new if r else False, "headline": r.headline() if r else "",
                "report": r.text() if r else "", "frozen_modules": self.frozen_modules,
                "frozen_params": self.frozen_params, "trainable_params": self.trainable_params}


def resolve_source(store: Any, source: str) -> Path:
    """The weights file of ``run:ID`` in ``store`` (its final weights), checked to exist."""
    m = RUN_REF.fullmatch(source.strip())
    if m is None:
        raise SpecError("config.init_from", f"expected run:ID (e.g. run:3) or a file path, got {source!r}")
    run = store.get_run(int(m.group(1)))
    if run is None:
        raise SpecError("config.init_from", f"no run {m.group(1)} in {store.path}; list runs with "
                        "`python -m engine runs`")
    path = (run.get("summary") or {}).get("weights_path")
    if not path or not Path(path).is_file():
        raise SpecError("config.init_from", f"run {m.group(1)} ({run['status']}) has no saved weights; start from a "
                        "run that finished with save_weights on, or give a checkpoint file")
    return Path(path)


def is_reference(source: str | None) -> bool:
    return bool(source) and (RUN_REF.fullmatch(source.strip()) is not None or source.startswith(PLAN_REF))


def freeze_stage(freeze: str | None) -> float | None:
    """``stem`` -> 0, ``stageN`` -> N, ``backbone`` -> inf (everything but the classifier), None -> None."""
    if freeze is None:
        return None
    if freeze == "stem":
        return 0
    if freeze == BACKBONE:
        return math.inf
    if m := re.fullmatch(r"stage([1-9]\d*)", freeze):
        return int(m.group(1))
    raise SpecError("config.freeze", f"expected stem, stage1, stage2, ... or backbone, got {freeze!r}")


def frozen_modules(model: nn.Module, freeze: str | None) -> list[str]:
    """Modules with parameters that ``freeze`` covers, in model order. Raises when the spec has no such stage."""
    up_to = freeze_stage(freeze)
    if up_to is None:
        return []
    names, stages = [], set()
    for name, module in model.named_modules():
        slot = skiplab_slot(name)
        if slot is None or not any(True for _ in module.parameters(recurse=False)):
            continue
        stages.add(slot.stage)
        if slot.part == "stem" or (slot.part == "block" and slot.stage <= up_to) or \
                (up_to == math.inf and not slot.is_head_fc):
            names.append(name)
    if not names:
        raise SpecError("config.freeze", "freeze works on ResNet specs (a stem, stages of blocks and a head); this "
                        "spec has none of those layers")
    n_stages = max(stages)
    if up_to != math.inf and up_to > n_stages:
        raise SpecError("config.freeze", f"this spec has {n_stages} stage(s); freeze one of stem, "
                        + ", ".join(f"stage{i}" for i in range(1, n_stages + 1)) + f" or {BACKBONE}")
    return names


def freeze_choices(graph: Graph) -> list[str]:
    """``stem``, ``stage1`` ... ``stageN``, ``backbone`` for a ResNet graph; [] for a graph without ResNet stages."""
    stages = {s.stage for n in graph.nodes if (s := skiplab_slot(n)) is not None and s.part == "block"}
    return ["stem", *(f"stage{i}" for i in sorted(stages)), BACKBONE] if stages else []


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def initialise(model: nn.Module, cfg: TrainConfig, init_file: str | Path | None = None) -> InitState | None:
    """Load ``cfg.init_from`` into ``model`` (built, on its device) and freeze ``cfg.freeze``. ``init_file`` is the
    resolved file of a ``run:ID`` reference (engine.train.record resolves it through the store)."""
    if cfg.init_from is None and cfg.freeze is None:
        return None
    state = InitState(source=cfg.init_from)
    if cfg.init_from is not None:
        if init_file is None and is_reference(cfg.init_from):
            raise SpecError("config.init_from", f"{cfg.init_from} names a run of a store: train through the store "
                            "(`python -m engine train`, the dashboard) or give the weights file's path")
        path = Path(init_file if init_file is not None else cfg.init_from).expanduser()
        report = load_checkpoint(model, path, new_head=cfg.new_head, trusted=init_file is not None)
        if not report.n_loaded_values:
            raise SpecError("config.init_from", f"nothing in {path} maps onto this spec, so the run would start "
                            f"from scratch: {report.text()}")
        state.path, state.report, state.sha256 = str(path), report, sha256(path)
        loaded_modules = {split_key(k)[0] for k in report.loaded_keys}
        state.loaded_params = {n for n, _ in model.named_parameters() if split_key(n)[0] in loaded_modules}
        log.info("%s", report.headline())
    state.frozen_modules = frozen_modules(model, cfg.freeze)
    for name in state.frozen_modules:
        for p in model.get_submodule(name).parameters(recurse=False):
            p.requires_grad_(False)
    state.frozen_params = sum(p.numel() for p in model.parameters() if not p.requires_grad)
    state.trainable_params = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return state


def hold_frozen(model: nn.Module, state: InitState | None) -> None:
    """After ``model.train()``: frozen BatchNorms back to eval mode (running statistics stay the checkpoint's)."""
    if state is None:
        return
    for name in state.frozen_modules:
        module = model.get_submodule(name)
        if isinstance(module, nn.modules.batchnorm._BatchNorm):
            module.eval()
