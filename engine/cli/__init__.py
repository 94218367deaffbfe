"""`python -m engine` / `skiplab`: argument helpers, text rendering, one module per command. The top layer:
it calls the public API (`engine.api`) and renders what it returns."""

from engine.cli.main import main

__all__ = ["main"]
