"""`TrainConfig`: everything a training run needs besides the spec, validated with clear errors.

The config is stored with every run as JSON, so a run can be repeated from the store alone. Defaults
follow the CIFAR ResNet recipe (He et al. 2016, sec. 4.2: SGD, momentum 0.9, weight decay 1e-4) scaled
down to short runs; AdamW defaults follow Loshchilov & Hutter 2019 (lr 1e-3, weight decay 1e-2).
"""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from engine.core.errors import SpecError
from engine.core.text import short

DEFAULT_LR = {"sgd": 0.1, "adamw": 1e-3}
DEFAULT_WEIGHT_DECAY = {"sgd": 5e-4, "adamw": 1e-2}


class TrainConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    dataset: str = "shapes"
    dataset_options: dict[str, Any] = Field(default_factory=dict,
                                            description="keyword options of the dataset loader (train_size ...)")
    steps: int = Field(200, gt=0, description="optimizer steps")
    batch_size: int = Field(64, gt=0)
    lr: float | None = Field(None, gt=0, description="peak learning rate; default 0.1 (sgd) or 1e-3 (adamw)")
    optimizer: Literal["sgd", "adamw"] = "sgd"
    momentum: float = Field(0.9, ge=0, lt=1)
    nesterov: bool = False
    weight_decay: float | None = Field(None, ge=0, description="default 5e-4 (sgd) or 1e-2 (adamw)")
    schedule: Literal["constant", "cosine", "step"] = "cosine"
    warmup_steps: int = Field(0, ge=0, description="linear warm-up from lr/warmup_steps to lr")
    step_every: int | None = Field(None, gt=0, description="step schedule: decay every N steps (default steps//3)")
    step_gamma: float = Field(0.1, gt=0, le=1, description="step schedule: lr factor at each decay")
    step_milestones: list[int] | None = Field(None, description="step schedule: decay at these steps instead "
                                              "of every step_every (He et al. 2016: 32k and 48k of 64k)")
    grad_clip: float | None = Field(None, gt=0, description="clip the global gradient L2 norm to this value")
    augment: bool | None = Field(None, description="random crop + flip; default: what the dataset recommends")
    amp: Literal["off", "bf16", "fp16"] = Field("off", description="mixed precision; CUDA only")
    seed: int = Field(0, ge=0, le=2**63 - 1, description="random seed (torch seeds are 64-bit)")
    device: Literal["auto", "cpu", "cuda", "mps"] = "auto"
    val_every: int = Field(100, ge=0, description="validate every N steps (0: only at the end)")
    val_batch_size: int = Field(256, gt=0)
    log_every: int = Field(10, gt=0, description="scalar metrics and per-layer gradient statistics every N steps")
    act_every: int = Field(50, ge=0, description="activation statistics every N steps (0: never)")
    hist_every: int | None = Field(None, ge=0, description="per-layer distributions of gradients, weights and "
                                   "updates every N steps (default: about 20 per run; 0: never)")
    flush_every: int = Field(10, gt=0, description="on a GPU, copy buffered statistics to the host every N steps")
    vanish_threshold: float = Field(1e-3, gt=0, description="alert when first/last layer grad-norm ratio < this")
    explode_threshold: float = Field(1e3, gt=0, description="alert when a layer's gradient norm exceeds this")
    diverge_factor: float | None = Field(100.0, gt=1, description="stop as diverged when the loss exceeds this x "
                                         "the first step's loss (at least 1); null: only NaN/Inf")
    explode_update_ratio: float = Field(1.0, gt=0, description="alert when an update is larger than this x weight")
    save_weights: bool = True
    probes: list[str] = Field(default_factory=list, description="extra measurements logged as metrics "
                              "(engine.train.probes), e.g. shortcut_share")
    probe_every: int = Field(10, gt=0, description="run the probes every N steps (and at init and the end)")
    sync_bn: bool = Field(True, description="under torchrun/DDP: BatchNorm statistics of the global batch "
                          "(false: of each rank's slice, as plain DDP)")
    init_from: str | None = Field(None, min_length=1, description="start from a checkpoint: a local .pth / "
                                  ".safetensors file (torchvision, timm, CIFAR-reference or SkipLab layout) or "
                                  "run:ID, a run's final weights (engine.train.transfer)")
    new_head: bool = Field(False, description="with init_from: a fresh classifier even where its shape fits")
    freeze: str | None = Field(None, description="freeze the stem and the stages up to this one: stem, stage1, "
                               "stage2, ... or backbone (all but the classifier)")
    loaded_lr_scale: float = Field(1.0, gt=0, description="with init_from: learning rate of the loaded layers "
                                   "relative to lr (e.g. 0.1); the new head keeps lr")

    @field_validator("freeze")
    @classmethod
    def _freeze(cls, v: str | None) -> str | None:
        if v is not None and re.fullmatch(r"stem|backbone|stage[1-9]\d*", v) is None:
            raise ValueError(f"freeze must be stem, stage1, stage2, ... or backbone, got {v!r}")
        return v

    @model_validator(mode="after")
    def _check(self) -> TrainConfig:
        if self.nesterov and (self.optimizer != "sgd" or self.momentum == 0):
            raise ValueError("nesterov needs optimizer sgd with momentum > 0")
        if self.probes:
            from engine.train.probes import probe_names

            unknown = [p for p in self.probes if p not in probe_names()]
            if unknown:
                raise ValueError(f"unknown probe(s) {', '.join(unknown)}; valid probes: {', '.join(probe_names())}")
        if self.init_from is None and (self.new_head or self.loaded_lr_scale != 1.0):
            raise ValueError("new_head and loaded_lr_scale apply to a run started from a checkpoint; set init_from")
        if self.step_milestones is not None and sorted(self.step_milestones) != self.step_milestones:
            raise ValueError(f"step_milestones must be increasing steps, got {self.step_milestones}")
        if self.warmup_steps >= self.steps:
            raise ValueError(f"warmup_steps ({self.warmup_steps}) must be smaller than steps ({self.steps})")
        return self

    @property
    def peak_lr(self) -> float:
        return self.lr if self.lr is not None else DEFAULT_LR[self.optimizer]

    @property
    def decay(self) -> float:
        return self.weight_decay if self.weight_decay is not None else DEFAULT_WEIGHT_DECAY[self.optimizer]

    def to_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="json")


def check_device(cfg: TrainConfig, device_type: str) -> None:
    """What the config asks of the device it will run on; checked before a run is recorded (create_run) and
    again by the trainer, so a refused training never becomes a `failed` run."""
    if cfg.amp != "off" and device_type != "cuda":
        raise SpecError("config.amp", f"mixed precision ({cfg.amp}) needs a CUDA device, but the run uses "
                        f"{device_type}; set amp: off or device: cuda")


def parse_config(data: TrainConfig | dict[str, Any] | None = None, **overrides: Any) -> TrainConfig:
    """A dict (or a config plus overrides) -> TrainConfig. Raises SpecError naming ``config.<field>``."""
    base: dict[str, Any] = {}
    if isinstance(data, TrainConfig):
        base = data.model_dump()
    elif isinstance(data, dict):
        base = dict(data)
    elif data is not None:
        raise SpecError("config", f"a training config is a mapping of keys (steps, lr, ...), got {type(data).__name__}")
    base.update({k: v for k, v in overrides.items() if v is not None})
    try:
        return TrainConfig.model_validate(base)
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        field = ".".join(str(p) for p in first["loc"])
        path = f"config.{field}" if field else "config"
        if first["type"] == "extra_forbidden":
            raise SpecError(path, f"unknown training option {field!r}; valid options: "
                            + ", ".join(TrainConfig.model_fields)) from None
        got = first.get("input")
        msg = first["msg"].removeprefix("Value error, ")
        got_text = "" if first["type"].startswith("value_error") else f", got {short(got)}"
        raise SpecError(path, f"{msg}{got_text}") from None
