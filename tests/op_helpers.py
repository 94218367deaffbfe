"""A scratch op registry for tests that need an op the engine does not define (or a changed definition):
a copy of the registry replaces it for one test, so nothing a test registers leaks into another."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from engine.core.registry import Registry
from engine.ir.ops import OPS, OpDef, base


class ScratchOps:
    def __init__(self) -> None:
        self.registry: Registry[OpDef] = Registry("op")
        for name in OPS:
            self.registry.register(name, OPS[name], where=OPS.where(name))

    def add(self, op: OpDef) -> OpDef:
        """Register `op` in the scratch registry (an existing name is an error, as in the real one)."""
        return base.register_op(op)

    def replace(self, name: str, **changes: Any) -> OpDef:
        """Swap an op's definition for a copy with `changes` (e.g. a rule left out)."""
        fresh: Registry[OpDef] = Registry("op")
        for other in self.registry:
            if other != name:
                fresh.register(other, self.registry[other], where=self.registry.where(other))
        op = dataclasses.replace(self.registry[name], **changes)
        fresh.register(name, op, where="tests/op_helpers.py")
        self.registry._items, self.registry._where = fresh._items, fresh._where  # noqa: SLF001 - a test double
        return op


@pytest.fixture
def scratch_ops(monkeypatch: pytest.MonkeyPatch) -> ScratchOps:
    """The op registry as a copy for this test only (engine lookups go through `get_op` / `all_ops`)."""
    scratch = ScratchOps()
    monkeypatch.setattr(base, "OPS", scratch.registry)
    return scratch
