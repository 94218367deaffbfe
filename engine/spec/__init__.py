"""The spec file format (v1): the models all families share, bounded text loading (specs, --config and sweep
files alike), validation with field paths, dump / canonical JSON. Imports only engine.core.

Family-aware parsing (which model a `family:` key selects) lives in `engine.arch.specs`, above the families.
"""

from engine.spec.codec import canonical_json, dumps, save, to_dict, validate
from engine.spec.loader import decode, read_file, text_format
from engine.spec.models import AddSkip, Edit, PosInt, SetMerge, SpecBase, StrictModel

__all__ = ["AddSkip", "Edit", "PosInt", "SetMerge", "SpecBase", "StrictModel", "canonical_json", "decode", "dumps",
           "read_file", "save", "text_format", "to_dict", "validate"]
