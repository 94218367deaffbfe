"""SkipLab's engine: specs -> graph IR -> counts, models, training, runs. `engine.api` is the public API and
every name of it is importable from here (`from engine import summarize`), loaded on first use (PEP 562)."""

from __future__ import annotations

from typing import Any


def __getattr__(name: str) -> Any:
    import engine.api as api

    try:
        return getattr(api, name)
    except AttributeError:
        raise AttributeError(f"module 'engine' has no attribute {name!r}") from None


def __dir__() -> list[str]:
    import engine.api as api

    return sorted(api.__all__)
