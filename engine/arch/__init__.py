"""Architectures as data: the block registry, one module per family (spec model, expander, presets), preset
lookup, family-aware parsing and expansion to the IR. Imports engine.core, engine.spec and engine.ir."""

from engine.arch.expand import expand
from engine.arch.families import FAMILIES, family_names, get_family
from engine.arch.presets import PRESETS, preset_names
from engine.arch.specs import SpecLike, get_preset, load, load_spec, loads, parse, resolve

__all__ = ["FAMILIES", "PRESETS", "SpecLike", "expand", "family_names", "get_family", "get_preset", "load",
           "load_spec", "loads", "parse", "preset_names", "resolve"]
