"""Checkpoint layouts: where each tensor of a ResNet checkpoint sits, independent of any library's names.

A `Slot` is a position by structure: the stem's conv or BN, the k-th conv / BN / projection of block j of
stage i, the head's classifier. Each `Layout` reads one library's module names into slots:

- ``torchvision``: torchvision.models.resnet18 ... resnet152 (``conv1``, ``bn1``, ``layer1.0.conv1``,
  ``layer1.0.downsample.0`` / ``.1``, ``fc``). timm's ResNets (``timm.models.resnet``) use the same names.
- ``cifar``: the CIFAR ResNets of the common reference implementations: akamaster/pytorch_resnet_cifar10
  (``conv1``, ``bn1``, ``layer1.0.conv1``, ``linear``; option A shortcuts have no parameters, option B
  ``shortcut.0`` / ``.1``) and kuangliu/pytorch-cifar (``layer1.0.shortcut.0`` / ``.1``, ``linear``; its
  PreActResNet has no stem BN and a conv-only ``shortcut.0``).
- ``skiplab``: SkipLab's own runs (``stem.conv``, ``stage1.block0.conv1``, ``stage1.block0.shortcut.conv``,
  ``head.fc``). `skiplab_slot` is the one function that reads a SkipLab ResNet node name.

Strides are not stored in a checkpoint: SkipLab puts a bottleneck's stride on its 3x3 conv, as torchvision
and timm do ("ResNet v1.5"); a Caffe-style v1 checkpoint (stride on the first 1x1) loads but computes
something slightly different.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from engine.core.registry import Registry

# Tensors of a conv / BN / linear module (BN buffers included: a fine-tune starts from the running statistics).
TENSOR_ATTRS = ("weight", "bias", "running_mean", "running_var", "num_batches_tracked")
COUNTER = "num_batches_tracked"  # BN's step counter: unused with a fixed momentum, absent from older checkpoints


@dataclass(frozen=True, order=True)
class Slot:
    """A position in a ResNet: ``part`` stem | block | head; ``stage`` 1-based and ``block`` 0-based for blocks;
    ``role`` conv1, bn1 ... conv3, bn3, shortcut.conv, shortcut.bn (blocks), conv, bn (stem), fc, bn (head)."""

    part: str
    stage: int = 0
    block: int = 0
    role: str = ""

    @property
    def is_head_fc(self) -> bool:
        return self.part == "head" and self.role == "fc"

    def label(self) -> str:
        if self.part == "block":
            return f"stage{self.stage} block{self.block} {self.role}"
        return f"{self.part} {self.role}"


_BLOCK_ROLE = r"(conv[1-3]|bn[1-3])"
_SKIPLAB = re.compile(rf"stage(\d+)\.block(\d+)\.({_BLOCK_ROLE[1:-1]}|shortcut\.conv|shortcut\.bn)")
_SKIPLAB_ENDS = {"stem.conv": Slot("stem", role="conv"), "stem.bn": Slot("stem", role="bn"),
                 "head.fc": Slot("head", role="fc"), "head.bn": Slot("head", role="bn")}


def skiplab_slot(module: str) -> Slot | None:
    """The slot of a SkipLab ResNet node (``stage2.block0.shortcut.conv`` -> stage 2, block 0, shortcut.conv),
    or None for a node that is not part of the ResNet layout (an edit's adapter, another family's node)."""
    if module in _SKIPLAB_ENDS:
        return _SKIPLAB_ENDS[module]
    m = _SKIPLAB.fullmatch(module)
    return Slot("block", int(m.group(1)), int(m.group(2)), m.group(3)) if m else None


def split_key(key: str) -> tuple[str, str]:
    """``layer1.0.conv1.weight`` -> (``layer1.0.conv1``, ``weight``); a key without a tensor attribute -> (key, "")."""
    module, _, attr = key.rpartition(".")
    return (module, attr) if module and attr in TENSOR_ATTRS else (key, "")


Rule = tuple[re.Pattern[str], Callable[[re.Match[str]], Slot]]


def _block(role: str | None = None) -> Callable[[re.Match[str]], Slot]:
    return lambda m: Slot("block", int(m.group(1)), int(m.group(2)), role or m.group(3))


def _fixed(slot: Slot) -> Callable[[re.Match[str]], Slot]:
    return lambda _m: slot


def _rules(head: str, projection: str) -> tuple[Rule, ...]:
    """The rules of a layout whose stem is ``conv1`` / ``bn1``, blocks ``layer{i}.{j}`` and head ``head``."""
    return (
        (re.compile(r"conv1"), _fixed(Slot("stem", role="conv"))),
        (re.compile(r"bn1"), _fixed(Slot("stem", role="bn"))),
        (re.compile(re.escape(head)), _fixed(Slot("head", role="fc"))),
        (re.compile(rf"layer(\d+)\.(\d+)\.{_BLOCK_ROLE}"), _block()),
        (re.compile(rf"layer(\d+)\.(\d+)\.{projection}\.0"), _block("shortcut.conv")),
        (re.compile(rf"layer(\d+)\.(\d+)\.{projection}\.1"), _block("shortcut.bn")),
    )


# Modules some checkpoints have that SkipLab's ResNet does not: each with the reason it is left out.
KNOWN_EXTRAS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"conv1\.\d+"), "a deep stem (three 3x3 convs, timm's resnet*d / resnet*c variants); SkipLab's stem "
                                "is one conv"),
    (re.compile(r".*\.se\.\w+"), "squeeze-and-excitation (timm's seresnet*); SkipLab's ResNet blocks have none"),
    (re.compile(r".*\.downsample\.2"), "an average-pool shortcut (timm's avg-down resnet*d); SkipLab's projection "
                                       "is a strided 1x1 conv"),
    (re.compile(r"(fc|linear|head)\.\w+"), "a multi-layer head; SkipLab's head is one linear layer"),
)


@dataclass(frozen=True)
class Layout:
    name: str
    title: str  # for reports: "torchvision / timm ResNet"
    rules: tuple[Rule, ...] = ()
    parse_module: Callable[[str], Slot | None] | None = None  # instead of rules

    def slot(self, module: str) -> Slot | None:
        if self.parse_module is not None:
            return self.parse_module(module)
        for pattern, make in self.rules:
            if m := pattern.fullmatch(module):
                return make(m)
        return None


LAYOUTS: Registry[Layout] = Registry("checkpoint layout")
for _layout in (
    Layout("skiplab", "SkipLab", parse_module=skiplab_slot),
    Layout("torchvision", "torchvision / timm ResNet", _rules("fc", "downsample")),
    Layout("cifar", "CIFAR ResNet (akamaster/pytorch_resnet_cifar10, kuangliu/pytorch-cifar)",
           _rules("linear", "shortcut")),
):
    LAYOUTS.register(_layout.name, _layout)


def detect_layout(keys: Iterable[str]) -> tuple[Layout | None, int]:
    """The layout that places the most tensors (ties: registration order), and how many it places; None if none
    places any. A whole checkpoint votes: ``conv1`` / ``layer1.0.conv1`` fit both torchvision and the CIFAR
    references, ``fc`` / ``downsample`` or ``linear`` / ``shortcut`` tell them apart."""
    modules = [split_key(k)[0] for k in keys]
    best, best_n = None, 0
    for name in LAYOUTS.names():
        layout = LAYOUTS.get(name)
        n = sum(layout.slot(m) is not None for m in modules)
        if n > best_n:
            best, best_n = layout, n
    return best, best_n


def extra_reason(module: str) -> str | None:
    return next((why for pattern, why in KNOWN_EXTRAS if pattern.fullmatch(module)), None)


# ---- what a set of slots says about the network --------------------------------------------------------------


@dataclass
class ArchSummary:
    """A ResNet as its tensors describe it; built the same way for a checkpoint and for a spec's model."""

    stem_kernel: int | None = None
    in_channels: int | None = None
    stem_bn: bool = False
    block: str | None = None  # basic | bottleneck
    preact: bool = False
    blocks: list[int] = field(default_factory=list)  # per stage
    widths: list[int] = field(default_factory=list)  # the inner width of each stage
    projections: list[int] = field(default_factory=list)  # blocks with a projection shortcut, per stage
    classes: int | None = None
    features: int | None = None  # the classifier's inputs

    @property
    def kind(self) -> str:
        return f"{'pre-activation ' if self.preact else ''}{self.block or 'no'}"

    def text(self) -> str:
        parts = [f"{self.kind} blocks {self.blocks}", f"widths {self.widths}"] if self.blocks else ["no ResNet stages"]
        if self.stem_kernel:
            parts.append(f"{self.stem_kernel}x{self.stem_kernel} stem on {self.in_channels} input channel(s)")
        if self.blocks:
            parts.append(f"{sum(self.projections)} projection shortcut(s)")
        if self.classes is not None:
            parts.append(f"{self.classes} classes")
        return ", ".join(parts)

    def to_json(self) -> dict[str, Any]:
        return {"block": self.block, "preact": self.preact, "blocks": self.blocks, "widths": self.widths,
                "projections": self.projections, "stem_kernel": self.stem_kernel, "in_channels": self.in_channels,
                "classes": self.classes, "features": self.features}

    def spec(self) -> dict[str, Any] | None:
        """A SkipLab ResNet spec with these tensors (strides as torchvision), or None when the summary is partial.
        Projections in every block: shortcut C; in first blocks only: B; none: A (a parameter-free shortcut)."""
        if not self.blocks or self.block is None or self.stem_kernel not in (3, 7) or self.classes is None:
            return None
        n_proj = sum(self.projections)
        shortcut = "C" if n_proj == sum(self.blocks) else ("B" if n_proj else "A")
        side = 224 if self.stem_kernel == 7 else 32
        return {"family": "resnet", "input": [self.in_channels or 3, side, side], "num_classes": self.classes,
                "stem": "imagenet" if self.stem_kernel == 7 else "cifar", "block": self.block, "preact": self.preact,
                "shortcut": shortcut,
                "stages": [{"blocks": n, "width": w} for n, w in zip(self.blocks, self.widths, strict=True)]}


def summarise_slots(shapes: Mapping[tuple[Slot, str], tuple[int, ...]]) -> ArchSummary:
    """Read the architecture off ``{(slot, tensor attribute): shape}``."""
    a = ArchSummary()
    stem = shapes.get((Slot("stem", role="conv"), "weight"))
    if stem is not None and len(stem) == 4:
        a.stem_kernel, a.in_channels = int(stem[2]), int(stem[1])
    a.stem_bn = (Slot("stem", role="bn"), "weight") in shapes or (Slot("stem", role="bn"), "running_mean") in shapes
    blocks: dict[int, set[int]] = {}
    roles: set[str] = set()
    for slot, _attr in shapes:
        if slot.part == "block":
            blocks.setdefault(slot.stage, set()).add(slot.block)
            roles.add(slot.role)
    if blocks:
        a.block = "bottleneck" if "conv3" in roles else "basic"
        a.preact = _preact(shapes)
    for stage in sorted(blocks):
        a.blocks.append(max(blocks[stage]) + 1)
        conv1 = shapes.get((Slot("block", stage, 0, "conv1"), "weight"))
        a.widths.append(int(conv1[0]) if conv1 else 0)
        a.projections.append(sum((Slot("block", stage, b, "shortcut.conv"), "weight") in shapes
                                 for b in blocks[stage]))
    fc = shapes.get((Slot("head", role="fc"), "weight"))
    if fc is not None and len(fc) == 2:
        a.classes, a.features = int(fc[0]), int(fc[1])
    return a


def _preact(shapes: Mapping[tuple[Slot, str], tuple[int, ...]]) -> bool:
    """Pre-activation (He et al. 2016b): a block's bn1 normalises the block's input (conv1's in-channels), not
    conv1's output. Told apart on a block whose conv1 changes the width; else by the stem being a bare conv."""
    votes = []
    for (slot, attr), shape in shapes.items():
        if slot.part == "block" and slot.role == "bn1" and attr == "running_mean":
            conv1 = shapes.get((Slot("block", slot.stage, slot.block, "conv1"), "weight"))
            if conv1 is not None and len(conv1) == 4 and conv1[0] != conv1[1]:
                votes.append(shape[0] == conv1[1])
    if votes:
        return all(votes)
    has_bn = any(s.part == "block" and s.role.startswith("bn") for s, _ in shapes)
    stem_bn = any(s.part == "stem" and s.role == "bn" for s, _ in shapes)
    return has_bn and not stem_bn and (Slot("stem", role="conv"), "weight") in shapes
