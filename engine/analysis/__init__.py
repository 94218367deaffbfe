"""Counting from the IR (per node, rollups by the IR's own stage and block), comparison of two specs, the
cross-check against fvcore / FlopCounterMode / torchinfo, block costs and published figures. Imports up to build."""

from engine.analysis.counts import BYTES, ROLES, Analysis, GroupRow, NodeRow, analyze, dtype_bytes, summarize

__all__ = ["BYTES", "ROLES", "Analysis", "GroupRow", "NodeRow", "analyze", "dtype_bytes", "summarize"]
