"""What a landscape computation takes, validated with messages that name the option and a fix."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from engine.core.errors import SpecError

MAX_GRID = 101  # 101 x 101 = 10,201 forward passes: hours on a CPU; anything larger is a typo


class LandscapeOptions(BaseModel):
    """A 1-D or 2-D loss surface around a run's final weights (Li et al. 2018)."""

    model_config = ConfigDict(extra="forbid")

    dim: Literal[1, 2] = Field(2, description="1: a curve along one direction; 2: a surface on a grid of two")
    direction: Literal["random", "init"] = Field(
        "random", description="random: filter-normalised random direction(s) (Li et al. sec. 4); init: the straight "
        "line from the initial to the final weights (1-D only; alpha -1 is the initial weights, 0 the final)")
    grid: int = Field(21, ge=3, le=MAX_GRID, description="points per axis (odd: the trained weights sit at the centre)")
    span: float = Field(1.0, gt=0, le=10, description="the axes run from -span to +span (1: each filter moved by its "
                        "own norm at the edge)")
    seed: int = Field(0, ge=0, le=2**31 - 1, description="seed of the random directions (the same seed draws the "
                      "same directions for two runs of one architecture)")
    samples: int = Field(512, ge=1, le=100_000, description="training samples the loss is measured on (the same "
                         "ones, in the same batches, at every point)")
    batch_size: int = Field(256, ge=1, le=8192, description="samples per forward pass")
    hessian: Literal["none", "center", "grid"] = Field(
        "center", description="Hessian eigenvalues from Hessian-vector products (Lanczos): none, at the centre, or "
        "on a coarse grid over the surface (Li et al. sec. 6 map of |lambda_min / lambda_max|)")
    hessian_grid: int = Field(5, ge=3, le=21, description="points per axis of the coarse Hessian grid (odd)")
    hessian_iters: int = Field(20, ge=2, le=200, description="Lanczos iterations (Hessian-vector products) per point")
    hessian_samples: int = Field(256, ge=1, le=100_000, description="samples the Hessian is measured on (the first of "
                                 "the loss samples)")
    device: Literal["auto", "cpu", "cuda", "mps"] = "auto"

    @model_validator(mode="after")
    def _check(self) -> LandscapeOptions:
        if self.grid % 2 == 0:
            raise ValueError(f"grid must be odd so the trained weights sit at the centre (index grid // 2), got "
                             f"{self.grid}; use {self.grid + 1}")
        if self.hessian_grid % 2 == 0:
            raise ValueError(f"hessian_grid must be odd so the centre is one of its points, got {self.hessian_grid}; "
                             f"use {self.hessian_grid + 1}")
        if self.direction == "init" and self.dim != 1:
            raise ValueError("direction 'init' is the 1-D line from the initial to the final weights; use dim 1, or "
                             "direction 'random' for a 2-D surface")
        if self.hessian == "grid" and self.dim != 2:
            raise ValueError("hessian 'grid' maps the curvature over a 2-D surface; use dim 2, or hessian 'center'")
        return self

    def to_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="json")


def parse_options(data: LandscapeOptions | dict[str, Any] | None = None, **overrides: Any) -> LandscapeOptions:
    """A dict (plus overrides that are not None) -> options; a bad value is a SpecError naming ``landscape.<key>``."""
    base = data.model_dump() if isinstance(data, LandscapeOptions) else dict(data or {})
    base.update({k: v for k, v in overrides.items() if v is not None})
    return validate(LandscapeOptions, base, "landscape")


def validate(model: type[BaseModel], data: dict[str, Any], where: str) -> Any:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        key = ".".join(str(p) for p in first["loc"])
        path = f"{where}.{key}" if key else where
        if first["type"] == "extra_forbidden":
            raise SpecError(path, f"unknown option {key!r}; valid options: {', '.join(model.model_fields)}") from None
        msg = first["msg"].removeprefix("Value error, ")
        got = "" if first["type"].startswith("value_error") else f", got {first.get('input')!r}"
        raise SpecError(path, f"{msg}{got}") from None
