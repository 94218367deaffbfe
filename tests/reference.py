"""The published figures the engine must reproduce (kept in engine.analysis.reference for the dashboard too)."""

from engine.analysis.reference import PUBLISHED

REFERENCE = {name: (params, macs) for name, (params, macs, _) in PUBLISHED.items()}
