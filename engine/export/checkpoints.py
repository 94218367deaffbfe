"""Transfer learning from a local checkpoint: map a torchvision, timm, CIFAR-reference or SkipLab ResNet
state_dict onto a spec's model by structure, check every shape, load what fits, say why the rest does not.

    report = load_checkpoint("resnet50", "~/models/resnet50.pth", num_classes=10)
    print(report.text())   # torchvision / timm ResNet: 318 of 320 tensors loaded; head new (1000 -> 10 classes)
    model = report.model

Each key is read into a structural `Slot` by the checkpoint's layout (engine.export.layouts), each model tensor
by `skiplab_slot`, and a tensor loads when both land on the same slot with the same shape. The head is new when
the class counts differ (or when asked: ``new_head``). A stem conv trained on 3-channel images is adapted to a
spec with other input channels as timm's ``adapt_input_conv`` does (summed over the colour channels for one
channel; repeated and rescaled otherwise). Files are read by engine.export.weights: weights-only pickles and
safetensors, never arbitrary pickled objects.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from engine.arch import SpecLike, expand, load_spec
from engine.build import build
from engine.core.text import fmt_shape
from engine.export.layouts import (
    COUNTER,
    ArchSummary,
    Layout,
    Slot,
    detect_layout,
    extra_reason,
    skiplab_slot,
    split_key,
    summarise_slots,
)
from engine.export.weights import PREFIXES, Mismatch, WeightsError, read_state_dict

log = logging.getLogger(__name__)

NEW_HEAD = "the new head"
MAX_LINES = 40  # report lines per section before "... and N more": a wrong checkpoint has hundreds of keys


@dataclass
class TransferReport:
    path: str
    format: str
    layout: str | None  # a layout name (engine.export.layouts.LAYOUTS), or None: none recognised
    layout_title: str
    checkpoint: ArchSummary
    target: ArchSummary
    loaded: list[tuple[str, str]] = field(default_factory=list)  # (checkpoint key, model key)
    adapted: list[tuple[str, str, str]] = field(default_factory=list)  # (checkpoint key, model key, how): loaded
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (checkpoint key, why it is not loaded)
    new: list[tuple[str, str]] = field(default_factory=list)  # (model key, why it keeps its fresh initialisation)
    mismatched: list[Mismatch] = field(default_factory=list)  # (model key, its shape, the file's): not loaded
    head_new: bool = False
    head_reason: str = ""
    notes: list[str] = field(default_factory=list)
    nested_key: str | None = None
    stripped_prefix: str | None = None
    suggested_spec: dict[str, Any] | None = None
    model: nn.Module | None = field(default=None, repr=False)

    @property
    def loaded_keys(self) -> list[str]:
        """Model keys that now hold checkpoint values (adapted ones included)."""
        return [dst for _, dst in self.loaded] + [dst for _, dst, _ in self.adapted]

    @property
    def n_loaded_values(self) -> int:
        """Loaded tensors that are weights or statistics (not BN step counters)."""
        return sum(split_key(k)[1] != COUNTER for k in self.loaded_keys)

    @property
    def n_model(self) -> int:
        return len(self.loaded_keys) + len(self.new)

    @property
    def body_complete(self) -> bool:
        """Complete but for a new head."""
        return all(why == self.head_reason for _, why in self.skipped) and \
            all(split_key(k)[1] == COUNTER or why == NEW_HEAD for k, why in self.new)

    @property
    def complete(self) -> bool:
        """Every model tensor but BN step counters came from the checkpoint, and every checkpoint tensor was used."""
        return not self.skipped and all(split_key(k)[1] == COUNTER for k, _ in self.new)

    def to_json(self) -> dict[str, Any]:
        return {
            "path": self.path, "format": self.format, "layout": self.layout, "layout_title": self.layout_title,
            "complete": self.complete, "loaded": len(self.loaded_keys), "model_tensors": self.n_model,
            "checkpoint_tensors": len(self.loaded) + len(self.adapted) + len(self.skipped),
            "mapping": {src: dst for src, dst in self.loaded} | {src: dst for src, dst, _ in self.adapted},
            "adapted": [{"key": s, "into": d, "how": how} for s, d, how in self.adapted],
            "skipped": [{"key": k, "why": why} for k, why in self.skipped],
            "new": [{"key": k, "why": why} for k, why in self.new],
            "mismatched": [{"key": m.key, "expected": m.expected, "got": m.got} for m in self.mismatched],
            "head_new": self.head_new, "head_reason": self.head_reason, "notes": self.notes,
            "checkpoint": self.checkpoint.to_json(), "spec": self.target.to_json(),
            "suggested_spec": self.suggested_spec, "nested_key": self.nested_key,
            "stripped_prefix": self.stripped_prefix,
        }

    def headline(self) -> str:
        head = f"; head new ({self.head_reason})" if self.head_new else ""
        return (f"{self.layout_title} layout: loaded {len(self.loaded_keys)} of {self.n_model} tensors of the "
                f"model{head}")

    def text(self) -> str:
        lines = [f"{self.path} ({self.format}): {self.headline()}."]
        if self.nested_key:
            lines.append(f"  the state_dict was read from the checkpoint's {self.nested_key!r} entry")
        if self.stripped_prefix:
            lines.append(f"  the prefix {self.stripped_prefix!r} was removed from every key")
        if self.checkpoint.blocks or self.checkpoint.classes is not None:
            lines.append(f"  checkpoint: {self.checkpoint.text()}")
        if self.target.blocks or self.target.classes is not None:
            lines.append(f"  this spec:  {self.target.text()}")
        lines += [f"  note: {n}" for n in self.notes]
        lines += [f"  adapted: {s}{'' if s == d else ' -> ' + d}: {how}" for s, d, how in self.adapted]
        lines += _section("not loaded from the file", self.skipped)
        lines += _section("new in the model", [(k, why) for k, why in self.new if split_key(k)[1] != COUNTER])
        if self.suggested_spec is not None:
            s = self.suggested_spec
            lines.append(f"  a spec this checkpoint fits: family resnet, stem {s['stem']}, block {s['block']}, "
                         f"preact {str(s['preact']).lower()}, shortcut {s['shortcut']}, stages "
                         + ", ".join(f"{st['blocks']}x{st['width']}" for st in s["stages"])
                         + (f" (the layout of the preset {s['name']})" if s.get("name") else ""))
        if self.complete:
            lines.append("  every tensor of the checkpoint found its place and every tensor of the model was loaded.")
        return "\n".join(lines)


def _section(title: str, rows: list[tuple[str, str]]) -> list[str]:
    """One line per reason: ``why: N tensor(s) of module, module, ...`` (at most MAX_LINES lines)."""
    if not rows:
        return []
    groups: dict[str, list[str]] = {}
    for key, why in rows:
        groups.setdefault(why, []).append(key)
    out = [f"  {title} ({len(rows)} tensor(s)):"]
    for why, keys in list(groups.items())[:MAX_LINES]:
        modules = list(dict.fromkeys(split_key(k)[0] for k in keys))
        names = ", ".join(modules[:6]) + (f" and {len(modules) - 6} more" if len(modules) > 6 else "")
        what = keys[0] if len(keys) == 1 else f"{len(keys)} tensors of {names}"
        out.append(f"    {what}: {why}")
    if len(groups) > MAX_LINES:
        out.append(f"    ... and {len(groups) - MAX_LINES} more reasons (--json lists every tensor)")
    return out


# ---- mapping ---------------------------------------------------------------------------------------------------


def _strip_wrapper(state: dict[str, torch.Tensor]) -> tuple[dict[str, torch.Tensor], str | None]:
    """DataParallel / Lightning / torch.compile prefixes, removed when a layout then places more tensors."""
    _, base = detect_layout(state)
    for prefix in PREFIXES:
        if all(k.startswith(prefix) for k in state):
            stripped = {k.removeprefix(prefix): v for k, v in state.items()}
            if detect_layout(stripped)[1] > base:
                return stripped, prefix
    return state, None


def _slots(state: dict[str, Any], read: Any) -> dict[tuple[Slot, str], str]:
    """{(slot, tensor attribute): key} of the keys ``read`` (module name -> Slot | None) places."""
    out: dict[tuple[Slot, str], str] = {}
    for key in state:
        module, attr = split_key(key)
        slot = read(module) if attr else None
        if slot is not None:
            out[(slot, attr)] = key
    return out


def _shapes(state: dict[str, Any], slots: dict[tuple[Slot, str], str]) -> dict[tuple[Slot, str], tuple[int, ...]]:
    return {sa: tuple(state[key].shape) for sa, key in slots.items()}


def adapt_input_conv(weight: torch.Tensor, in_channels: int) -> torch.Tensor:
    """timm's ``adapt_input_conv``: RGB filters for ``in_channels`` inputs (summed for 1; else repeated and scaled
    by 3 / in_channels so the activations keep their scale)."""
    if in_channels == 1:
        return weight.sum(dim=1, keepdim=True)
    reps = -(-in_channels // weight.shape[1])
    return weight.repeat(1, reps, 1, 1)[:, :in_channels] * (weight.shape[1] / in_channels)


def map_state(state: dict[str, torch.Tensor], own: dict[str, torch.Tensor], *, new_head: bool = False
              ) -> tuple[dict[str, torch.Tensor], TransferReport]:
    """{model key: tensor to load} and the report (without path / format / model) for a checkpoint's state_dict."""
    state, prefix = _strip_wrapper(state)
    layout, _ = detect_layout(state)
    src = _slots(state, layout.slot) if layout else {}
    dst = _slots(own, skiplab_slot)
    ck, tg = summarise_slots(_shapes(state, src)), summarise_slots(_shapes(own, dst))
    report = TransferReport("", "", layout.name if layout else None, layout.title if layout else "unrecognised", ck,
                            tg, stripped_prefix=prefix)
    by_key = {key: sa for sa, key in src.items()}
    placed = set(dst.values())
    target_of = {sa: key for sa, key in dst.items()}
    blocks_differ = bool(ck.blocks and tg.blocks and ck.kind != tg.kind)
    if blocks_differ:
        report.notes.append(f"the checkpoint's blocks are {ck.kind}, this spec's are {tg.kind}: their convs do "
                            "not correspond, so no block tensor is loaded")
    head_fc = target_of.get((Slot("head", role="fc"), "weight"))
    if ck.classes is not None and head_fc is not None and ck.classes != tg.classes:
        report.head_new = True
        report.head_reason = (f"the checkpoint's {_module_of(src, Slot('head', role='fc'))} has {ck.classes} "
                              f"outputs; this spec has {tg.classes} classes: the head will be new")
    elif new_head and head_fc is not None:
        report.head_new, report.head_reason = True, "new_head: a fresh classifier was asked for"
    out: dict[str, torch.Tensor] = {}
    for key, tensor in state.items():
        sa = by_key.get(key)
        if sa is None:
            if key in own and key not in placed:  # a SkipLab node outside the ResNet layout: matched by name
                want, got = tuple(own[key].shape), tuple(tensor.shape)
                if want == got:
                    out[key] = tensor
                    report.loaded.append((key, key))
                else:
                    report.mismatched.append(Mismatch(key, list(want), list(got)))
                    report.skipped.append((key, f"this spec expects {fmt_shape(list(want))}, the file has "
                                                f"{fmt_shape(list(got))}"))
                continue
            report.skipped.append((key, _unplaced(key, layout)))
            continue
        slot, attr = sa
        target = target_of.get(sa)
        why = _no_place(slot, attr, tg) if target is None else None
        if why is None and slot.is_head_fc and report.head_new:
            why = report.head_reason
        if why is None and blocks_differ and slot.part == "block":
            why = f"the checkpoint's blocks are {ck.kind}, this spec's are {tg.kind}"
        if why is None:
            assert target is not None
            want, got = tuple(own[target].shape), tuple(tensor.shape)
            if want == got:
                out[target] = tensor
                report.loaded.append((key, target))
                continue
            if slot == Slot("stem", role="conv") and attr == "weight" and len(got) == 4 and \
                    (want[0], *want[2:]) == (got[0], *got[2:]):
                out[target] = adapt_input_conv(tensor, want[1])
                report.adapted.append((key, target, f"filters for {got[1]} input channels adapted to {want[1]} "
                                                    "(as timm's adapt_input_conv)"))
                continue
            why = _shape_reason(slot, attr, want, got, ck, tg)
        if target is not None and tuple(own[target].shape) != tuple(tensor.shape):
            report.mismatched.append(Mismatch(target, list(own[target].shape), list(tensor.shape)))
        report.skipped.append((key, why))
    _whole_modules(out, own, report)
    for key in own:
        if key not in out:
            report.new.append((key, _why_new(key, dst, src, report)))
    if layout is None and report.loaded:  # not a ResNet: another family's SkipLab run, matched by name
        report.layout, report.layout_title = "names", "SkipLab (by name)"
    return out, report


def _whole_modules(out: dict[str, torch.Tensor], own: dict[str, torch.Tensor], report: TransferReport) -> None:
    """A module loads whole or not at all: a linear's bias without its weight, or a BN's step counter without
    its statistics (a scalar fits a BN of any width), would be a meaningless partial load."""
    keys_of: dict[str, list[str]] = {}
    for key in own:
        keys_of.setdefault(split_key(key)[0], []).append(key)
    for keys in keys_of.values():
        values = [k for k in keys if split_key(k)[1] != COUNTER]
        if all(k in out for k in values) or not any(k in out for k in keys):
            continue
        for pair in [p for p in report.loaded if p[1] in keys]:
            report.loaded.remove(pair)
            report.skipped.append((pair[0], "the rest of its module did not load (a module loads whole)"))
        for triple in [t for t in report.adapted if t[1] in keys]:
            report.adapted.remove(triple)
            report.skipped.append((triple[0], "the rest of its module did not load (a module loads whole)"))
        for k in keys:
            out.pop(k, None)


def _module_of(slots: dict[tuple[Slot, str], str], slot: Slot) -> str:
    key = slots.get((slot, "weight"))
    return split_key(key)[0] if key else slot.label()


def _unplaced(key: str, layout: Layout | None) -> str:
    module, attr = split_key(key)
    if (why := extra_reason(module)) is not None:
        return why
    if layout is None:
        return ("no known ResNet layout places it (torchvision / timm, the CIFAR references, SkipLab); "
                "is this a ResNet checkpoint?")
    if not attr:
        return "not a conv, BN or linear tensor"
    return f"not part of the {layout.title} layout"


def _no_place(slot: Slot, attr: str, tg: ArchSummary) -> str:
    """Why a placed checkpoint tensor has no counterpart in the spec's model."""
    if slot.part == "block":
        if slot.stage > len(tg.blocks):
            return f"this spec has {len(tg.blocks)} stage(s); the checkpoint's stage {slot.stage} has no place"
        if slot.block >= tg.blocks[slot.stage - 1]:
            return (f"stage{slot.stage} of this spec has {tg.blocks[slot.stage - 1]} block(s); block {slot.block} "
                    "has no place")
        if slot.role.startswith("shortcut"):
            return (f"this spec's stage{slot.stage}.block{slot.block} has no projection shortcut here (a zero-pad "
                    "or identity shortcut has no parameters; shortcut B or C has one)")
        if slot.role in ("conv3", "bn3"):
            return f"{slot.role} belongs to a bottleneck block; this spec's blocks are {tg.kind}"
        return f"this spec's block has no {slot.role}"
    if slot.part == "stem" and slot.role == "bn":
        return "this spec's stem has no BN (pre-activation or norm: none)"
    if slot.part == "head" and slot.role == "bn":
        return "this spec has no final BN (only pre-activation nets have one)"
    return f"this spec has no {slot.label()} {attr}"


def _shape_reason(slot: Slot, attr: str, want: tuple[int, ...], got: tuple[int, ...], ck: ArchSummary,
                  tg: ArchSummary) -> str:
    base = f"this spec expects {fmt_shape(list(want))}, the file has {fmt_shape(list(got))}"
    if slot == Slot("stem", role="conv") and len(want) == 4 and len(got) == 4 and want[2] != got[2]:
        stem = "imagenet" if got[2] == 7 else "cifar"
        return (f"{base}: the checkpoint's stem is a {got[2]}x{got[2]} conv, this spec's {want[2]}x{want[2]} "
                f"(set stem: {stem})")
    if slot.is_head_fc and len(want) == 2 and len(got) == 2 and want[1] != got[1]:
        return f"{base}: the classifier reads {got[1]} features in the checkpoint, {want[1]} in this spec"
    in_both = slot.part == "block" and slot.stage <= min(len(ck.widths), len(tg.widths))
    if in_both and ck.widths[slot.stage - 1] != tg.widths[slot.stage - 1]:
        return (f"{base}: stage{slot.stage} is {ck.widths[slot.stage - 1]} wide in the checkpoint, "
                f"{tg.widths[slot.stage - 1]} in this spec")
    return base


def _why_new(key: str, dst: dict[tuple[Slot, str], str], src: dict[tuple[Slot, str], str],
             report: TransferReport) -> str:
    sa = next((s for s, k in dst.items() if k == key), None)
    if split_key(key)[1] == COUNTER:
        return "a BN step counter the file does not have (unused with a fixed momentum: harmless)"
    if sa is not None and sa[0].is_head_fc and report.head_new:
        return NEW_HEAD
    if sa is not None and sa in src:
        return "its counterpart in the file did not fit (see above)"
    if sa is not None and sa[0].part == "block":
        n = report.checkpoint.blocks[sa[0].stage - 1] if sa[0].stage <= len(report.checkpoint.blocks) else 0
        if sa[0].block >= n:
            return f"the checkpoint's stage {sa[0].stage} has {n} block(s): this block is new"
    if sa is not None:
        return f"the checkpoint has no {sa[0].label()}"
    return "not a ResNet tensor and not in the file under this name"


# ---- loading -------------------------------------------------------------------------------------------------


def load_checkpoint(target: SpecLike | nn.Module, path: str | Path, *, new_head: bool = False,
                    seed: int = 0, trusted: bool = False) -> TransferReport:
    """Load what maps from the checkpoint at ``path`` into ``target`` (a built model, loaded in place, or a spec,
    built with ``seed``); the model is ``report.model``. Raises WeightsError for a file that cannot be read.
    ``trusted``: a run's own weights in the store (not subject to SKIPLAB_DATA_ROOT)."""
    model = target if isinstance(target, nn.Module) else build(expand(load_spec(target)), seed=seed)
    state, fmt, nested = read_state_dict(path, trusted=trusted)
    own = model.state_dict()
    tensors, report = map_state(state, own, new_head=new_head)
    report.path, report.format, report.nested_key, report.model = str(path), fmt, nested, model
    if not report.body_complete:
        report.suggested_spec = _suggest(report.checkpoint, state)
    with torch.no_grad():
        for key, value in tensors.items():
            own[key].copy_(value.to(own[key].dtype))
    log.info("loaded %d of %d tensors from %s (%s layout)", len(tensors), len(own), path, report.layout)
    return report


def _suggest(arch: ArchSummary, state: dict[str, torch.Tensor]) -> dict[str, Any] | None:
    """A spec that the checkpoint fills completely (checked by mapping it), named after a preset it equals."""
    from engine.arch import PRESETS, get_preset
    from engine.spec import to_dict

    spec = arch.spec()
    if spec is None:
        return None
    try:
        own = build(expand(spec), torch.device("meta")).state_dict()
    except Exception:  # noqa: BLE001 - an odd checkpoint may describe a net SkipLab cannot build: no suggestion
        return None
    if not map_state(state, own)[1].complete:
        return None
    layout_keys = [k for k in spec if k not in ("input", "num_classes")]  # the body: any input, any head
    for name in PRESETS.names():
        preset = to_dict(get_preset(name))
        if all(preset.get(k) == spec[k] for k in layout_keys):
            return {**spec, "name": name}
    return spec


def check_init(spec: SpecLike, path: str | Path, *, new_head: bool = False, trusted: bool = False) -> TransferReport:
    """The report of initialising ``spec`` from ``path``; WeightsError when nothing at all would load."""
    report = load_checkpoint(spec, path, new_head=new_head, trusted=trusted)
    if not report.n_loaded_values:
        raise WeightsError(f"nothing in {path} maps onto this spec, so a run initialised from it would start from "
                           f"scratch: {report.text()}")
    return report
