"""The models every spec shares: the strict base model, `SpecBase` (family, name, input, edits) and the
connectivity edits. Each family's own model extends `SpecBase` in its module of `engine.arch.families`.

Unknown keys are errors, never ignored (``extra="forbid"``); strict types (no "3" for 3).
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

PosInt = Annotated[int, Field(gt=0)]


class StrictModel(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, populate_by_name=True)


# ---- edits (applied to any family's graph by engine.ir.edits) -----------------------------------------------


class AddSkip(StrictModel):
    source: str = Field(alias="from", description="a node or block whose output the skip carries")
    to: str = Field(description="a node or block whose output is merged with the skip")
    merge: Literal["add", "concat", "gate"] = "add"
    adapter: Literal["none", "projection", "pool"] = "none"


class SetMerge(StrictModel):
    target: str = Field(description="a block or U-Net level whose merge op changes")
    merge: Literal["add", "concat", "gate", "none"]


class Edit(StrictModel):
    add_skip: AddSkip | None = None
    remove_skip: str | None = None
    set_merge: SetMerge | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> Edit:
        given = [k for k in ("add_skip", "remove_skip", "set_merge") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError("an edit has exactly one of add_skip, remove_skip, set_merge; got "
                             + (", ".join(given) or "none"))
        return self


class SpecBase(StrictModel):
    family: str
    name: str = ""
    input: list[PosInt] = Field(min_length=1, description="the input shape without the batch dimension")
    edits: list[Edit] = Field(default_factory=list)
