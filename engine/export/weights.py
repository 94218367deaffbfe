"""Import a local state_dict into a built spec, with a report of missing / unexpected / mis-shaped keys.

Files are read with ``torch.load(..., weights_only=True)`` (tensors and plain containers only) or as
safetensors; a pickle that references any other object (a class, ``os.system``) is refused before
anything in it runs, because unpickling arbitrary objects can execute code (PyTorch's security note on
torch.load). Matching tensors are loaded; everything else is named in the report.
"""

from __future__ import annotations

import difflib
import logging
import pickle
import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from engine.arch import SpecLike
from engine.build import build_model
from engine.core.errors import SkipLabError
from engine.core.paths import check_path
from engine.core.text import fmt_shape
from engine.export.extras import require

log = logging.getLogger(__name__)

# Training checkpoints often wrap the state_dict: {"epoch": 3, "state_dict": {...}, "optimizer": {...}}.
NESTED_KEYS = ("state_dict", "model_state_dict", "model", "net", "weights", "params")
# Wrappers that prefix every key: DataParallel / DDP ("module."), Lightning ("model."), torch.compile.
PREFIXES = ("module.", "model.", "_orig_mod.", "net.")


class WeightsError(SkipLabError, ValueError):
    """A weights file that cannot be read or is refused."""


@dataclass
class Mismatch:
    key: str
    expected: list[int]
    got: list[int]


@dataclass
class WeightsReport:
    path: str
    format: str  # "torch" | "safetensors"
    loaded: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)  # in the model, not in the file: left as initialised
    unexpected: list[str] = field(default_factory=list)  # in the file, not in the model: ignored
    mismatched: list[Mismatch] = field(default_factory=list)  # in both, different shapes: not loaded
    suggestions: dict[str, str] = field(default_factory=dict)  # unexpected key -> the missing key it may be
    nested_key: str | None = None
    stripped_prefix: str | None = None
    model: nn.Module | None = field(default=None, repr=False)

    @property
    def ok(self) -> bool:
        return not (self.missing or self.unexpected or self.mismatched)

    def to_json(self) -> dict[str, Any]:
        return {
            "path": self.path, "format": self.format, "ok": self.ok, "loaded": len(self.loaded),
            "missing": self.missing, "unexpected": self.unexpected,
            "mismatched": [{"key": m.key, "expected": m.expected, "got": m.got} for m in self.mismatched],
            "suggestions": self.suggestions, "nested_key": self.nested_key, "stripped_prefix": self.stripped_prefix,
        }

    def text(self) -> str:
        total = len(self.loaded) + len(self.missing) + len(self.mismatched)
        lines = [f"{self.path}: loaded {len(self.loaded)} of {total} tensors of the model ({self.format})."]
        if self.nested_key:
            lines.append(f"  the state_dict was read from the checkpoint's {self.nested_key!r} entry")
        if self.stripped_prefix:
            lines.append(f"  the prefix {self.stripped_prefix!r} was removed from every key")
        for m in self.mismatched:
            lines.append(f"  wrong shape  {m.key}: model expects {fmt_shape(m.expected)}, file has {fmt_shape(m.got)}"
                         " (not loaded)")
        for key in self.missing:
            lines.append(f"  missing      {key} (not in the file; keeps its initial value)")
        for key in self.unexpected:
            hint = f" (did you mean {self.suggestions[key]}?)" if key in self.suggestions else ""
            lines.append(f"  unexpected   {key} (not in the model; ignored){hint}")
        if self.ok:
            lines.append("  every key matched.")
        return "\n".join(lines)


def load_weights(target: SpecLike | nn.Module, path: str | Path, *, strict: bool = False) -> WeightsReport:
    """Load the tensors of `path` whose names and shapes match into `target` (a module, loaded in place,
    or a spec, built first; the model is `report.model`). With `strict`, any mismatch raises WeightsError
    and nothing is loaded."""
    model = target if isinstance(target, nn.Module) else build_model(target)
    state, fmt, nested = read_state_dict(path)
    own = model.state_dict()
    state, prefix = _strip_prefix(state, own)
    report = WeightsReport(str(path), fmt, nested_key=nested, stripped_prefix=prefix, model=model)
    matched: dict[str, torch.Tensor] = {}
    for key, tensor in state.items():
        if key not in own:
            report.unexpected.append(key)
        elif tuple(tensor.shape) != tuple(own[key].shape):
            report.mismatched.append(Mismatch(key, list(own[key].shape), list(tensor.shape)))
        else:
            matched[key] = tensor
    report.missing = [k for k in own if k not in state]
    report.loaded = list(matched)
    report.suggestions = _suggest(report.unexpected, report.missing, state, own)
    if strict and not report.ok:
        raise WeightsError(f"refusing a partial load (strict): {report.text()}")
    model.load_state_dict(matched, strict=False)
    log.info("loaded %d tensors from %s", len(matched), path)
    return report


def read_state_dict(path: str | Path, *, trusted: bool = False) -> tuple[dict[str, torch.Tensor], str, str | None]:
    """(state_dict, format, nested key) from a .pt/.pth/.bin (weights-only pickle) or .safetensors file.
    ``trusted``: a file SkipLab wrote itself (a run's weights in the store), exempt from the data root."""
    # inside SKIPLAB_DATA_ROOT when one is set
    path = Path(path).expanduser() if trusted else check_path(path, "weights file")
    if not path.is_file():
        raise WeightsError(f"{path}: no such weights file; give the path of a .pt, .pth or .safetensors file")
    if _is_safetensors(path):
        st = require("safetensors.torch", "Reading a .safetensors file")
        try:
            return dict(st.load_file(str(path), device="cpu")), "safetensors", None
        except Exception as exc:  # noqa: BLE001 - safetensors raises its own SafetensorError on a bad header
            detail = next(iter(str(exc).splitlines()), "")[:200]
            raise WeightsError(f"{path}: not a readable safetensors file ({detail}); save one with "
                               "safetensors.torch.save_file(model.state_dict(), path)") from None
    try:
        with warnings.catch_warnings():  # junk bytes read as a pickle warn about its "protocol" before failing
            warnings.filterwarnings("ignore", message="Detected pickle protocol", category=UserWarning)
            obj = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        with path.open("rb") as f:
            head = f.read(4)
        if head.startswith((b"PK\x03\x04", b"\x80")):  # a torch zip archive or a pickle: refused content
            raise WeightsError(_refusal(path, str(exc))) from None
        raise _unreadable(path) from None
    except (RuntimeError, EOFError, OSError, ValueError) as exc:
        detail = next(iter(str(exc).splitlines()), "") or ("the file ends early" if isinstance(exc, EOFError) else "")
        raise _unreadable(path, f"{exc.__class__.__name__}: {detail[:200]}") from None
    except Exception:  # noqa: BLE001 - on junk bytes the weights-only unpickler raises KeyError, IndexError, ...
        raise _unreadable(path) from None
    state, nested = _find_state_dict(path, obj)
    return state, "torch", nested


def _unreadable(path: Path, detail: str = "neither a torch.save archive nor a pickle") -> WeightsError:
    return WeightsError(f"{path}: not a readable PyTorch weights file ({detail}); save one with "
                        "torch.save(model.state_dict(), path)")


def _refusal(path: Path, detail: str) -> str:
    found = re.search(r"(?:unsupported GLOBAL|Unsupported global: GLOBAL) ([\w.]+)", detail, re.IGNORECASE)
    what = f" (it references {found.group(1)})" if found and found.group(1) else ""
    return (f"{path}: refused to load: the file pickles Python objects other than tensors and plain containers"
            f"{what}. SkipLab reads weights with torch.load(weights_only=True) and never unpickles arbitrary "
            "objects, because unpickling can run code. Save only the weights, e.g. "
            "torch.save(model.state_dict(), path), or use safetensors.")


def _is_safetensors(path: Path) -> bool:
    if path.suffix.lower() == ".safetensors":
        return True
    with path.open("rb") as f:  # 8-byte little-endian header length, then a JSON header
        head = f.read(9)
    return len(head) == 9 and head[8:9] == b"{" and int.from_bytes(head[:8], "little") < path.stat().st_size


def _is_tensor_dict(obj: Any) -> bool:
    return isinstance(obj, dict) and bool(obj) and all(
        isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in obj.items())


def _find_state_dict(path: Path, obj: Any) -> tuple[dict[str, torch.Tensor], str | None]:
    if _is_tensor_dict(obj):
        return dict(obj), None
    if isinstance(obj, dict):
        for key in NESTED_KEYS:
            if _is_tensor_dict(obj.get(key)):
                return dict(obj[key]), key
        tensors = {k: v for k, v in obj.items() if isinstance(k, str) and isinstance(v, torch.Tensor)}
        if tensors:  # a state_dict with a few extra entries (e.g. "_metadata"-like counters)
            return tensors, None
        keys = ", ".join(map(str, list(obj)[:8]))
        raise WeightsError(f"{path}: no state_dict found: the file holds a dict with keys {keys} but none maps names "
                           f"to tensors (looked at the top level and {', '.join(NESTED_KEYS)})")
    raise WeightsError(f"{path}: expected a state_dict (a dict of name -> tensor), got a {type(obj).__name__}")


def _strip_prefix(state: dict[str, torch.Tensor], own: dict[str, Any]) -> tuple[dict[str, torch.Tensor], str | None]:
    """Remove a wrapper prefix from every key when that makes more keys match the model."""
    base = sum(k in own for k in state)
    for prefix in PREFIXES:
        if all(k.startswith(prefix) for k in state):
            stripped = {k.removeprefix(prefix): v for k, v in state.items()}
            if sum(k in own for k in stripped) > base:
                return stripped, prefix
    return state, None


def _suggest(unexpected: list[str], missing: list[str], state: dict[str, torch.Tensor],
             own: dict[str, Any]) -> dict[str, str]:
    """For a renamed key: the closest-named missing key of the same shape."""
    out: dict[str, str] = {}
    for key in unexpected:
        same_shape = [m for m in missing if tuple(own[m].shape) == tuple(state[key].shape)]
        close = difflib.get_close_matches(key, same_shape, n=1, cutoff=0.6)
        if close:
            out[key] = close[0]
    return out
