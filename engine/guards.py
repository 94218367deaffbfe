"""Resource guards: refuse what would not fit *before* anything is allocated, with the numbers and a fix.

A classroom pastes odd specs: a 5,000-layer net, a width of 1e9, a batch of 100,000, a YAML alias bomb.
Each is refused here with a message that shows what was asked for, what the limit is and how to fix
it, rather than freezing the machine, dying in the kernel's OOM killer or hanging the dashboard.

Limits (environment variables, read on every check so a server can be reconfigured by a restart):

- ``SKIPLAB_MAX_MEMORY``: bytes a model (and its training) may use, e.g. ``8G`` or ``512M``. Default:
  80 % of the free RAM (``MemAvailable``, capped by a cgroup limit), or of the free VRAM on CUDA
  (``torch.cuda.mem_get_info``): the allocator, the framework and other programs need the rest.
- ``SKIPLAB_MAX_PARAMS``: parameters a model may have (default: no count limit; memory decides).
- ``SKIPLAB_MAX_NODES``: graph nodes an architecture may expand to (default 50,000: a ResNet of 5,000
  blocks is about 35,000 nodes and analyses in about a second).

Spec *data* (what YAML or JSON decoded to) is bounded too: at most 1,000,000 values counted with YAML
aliases expanded, 64 levels of nesting, no self-references; spec text at most 512 KiB.
"""

from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from engine.errors import SkipLabError, SpecError

if TYPE_CHECKING:
    import torch

    from engine.graph import Graph
    from engine.ops import Shape
    from engine.train.config import TrainConfig

MARGIN = 0.8  # share of the free memory a run may plan to use
DEFAULT_MAX_NODES = 50_000
MAX_SPEC_VALUES = 1_000_000
MAX_SPEC_DEPTH = 64
MAX_SPEC_BYTES = 512 * 1024  # loads in about a second; a spec is a few KB, a 5,000-node graph ~250 KB
_UNITS = {"": 1, "b": 1, "k": 2**10, "kb": 2**10, "kib": 2**10, "m": 2**20, "mb": 2**20, "mib": 2**20,
          "g": 2**30, "gb": 2**30, "gib": 2**30, "t": 2**40, "tb": 2**40, "tib": 2**40}


class ResourceError(SkipLabError, ValueError):
    """A request that exceeds a resource limit. The message shows the numbers, the limit and a fix."""


def fmt_bytes(n: float) -> str:
    """1536 -> '1.5 KiB'."""
    for unit, factor in (("TiB", 2**40), ("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if abs(n) >= factor:
            return f"{n / factor:,.1f} {unit}"
    return f"{int(n)} B"


def parse_bytes(text: str, name: str = "SKIPLAB_MAX_MEMORY") -> int:
    """'8G' -> 8 GiB; '1.5e9' -> 1,500,000,000; a bad value names the variable."""
    m = re.fullmatch(r"\s*([0-9]*\.?[0-9]+(?:e[0-9]+)?)\s*([a-z]*)\s*", text.lower())
    if not m or m.group(2) not in _UNITS:
        raise ResourceError(f"{name}={text!r} is not a size; use bytes or a unit, e.g. 8G, 512M or 2000000000")
    return int(float(m.group(1)) * _UNITS[m.group(2)])


def _env_int(name: str, default: int | None) -> int | None:
    text = os.environ.get(name, "").strip()
    if not text:
        return default
    try:
        value = int(float(text))
    except ValueError:
        raise ResourceError(f"{name}={text!r} is not a number; use a positive integer, e.g. {name}=50000") from None
    if value <= 0:
        raise ResourceError(f"{name}={text!r} must be positive")
    return value


def max_nodes() -> int:
    return _env_int("SKIPLAB_MAX_NODES", DEFAULT_MAX_NODES) or DEFAULT_MAX_NODES


def max_params() -> int | None:
    return _env_int("SKIPLAB_MAX_PARAMS", None)


# ---- free memory -------------------------------------------------------------------------------------------


def free_ram() -> int | None:
    """Bytes of RAM available to this process: MemAvailable, capped by a cgroup v2/v1 limit; None if unknown."""
    free: int | None = None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                free = int(line.split()[1]) * 1024
                break
    except (OSError, ValueError, IndexError):
        pass
    if free is None:
        try:
            free = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        except (ValueError, OSError, AttributeError):
            return None
    for limit_file, usage_file in (("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory.current"),
                                   ("/sys/fs/cgroup/memory/memory.limit_in_bytes",
                                    "/sys/fs/cgroup/memory/memory.usage_in_bytes")):
        try:
            limit, usage = Path(limit_file).read_text().strip(), Path(usage_file).read_text().strip()
            if limit != "max" and int(limit) < 2**60:  # cgroup v1 writes a huge number for "no limit"
                free = min(free, max(0, int(limit) - int(usage)))
        except (OSError, ValueError):
            continue
    return free


def free_vram(device: torch.device) -> int | None:
    import torch

    if device.type != "cuda" or not torch.cuda.is_available():
        return None
    return int(torch.cuda.mem_get_info(device)[0])


@dataclass(frozen=True)
class Budget:
    bytes: int | None  # None: unknown, nothing is refused
    source: str  # how the limit was found, for the message

    @property
    def fix(self) -> str:
        return "SKIPLAB_MAX_MEMORY (e.g. SKIPLAB_MAX_MEMORY=16G) to change the limit"


def memory_budget(device: str | torch.device = "cpu") -> Budget:
    """The bytes a model on ``device`` may plan to use (SKIPLAB_MAX_MEMORY, else 80 % of what is free)."""
    text = os.environ.get("SKIPLAB_MAX_MEMORY", "").strip()
    if text:
        return Budget(parse_bytes(text), "SKIPLAB_MAX_MEMORY")
    import torch

    dev = torch.device(device)
    if dev.type == "cuda":
        free = free_vram(dev)
        what = f"GPU memory on {dev}"
    else:
        free = free_ram()
        what = "RAM"
    if free is None:
        return Budget(None, f"free {what} unknown")
    return Budget(int(free * MARGIN), f"{MARGIN:.0%} of the {fmt_bytes(free)} of free {what}")


# ---- spec data (before validation) -----------------------------------------------------------------------


def check_spec_text(text: str) -> None:
    if len(text) > MAX_SPEC_BYTES:
        raise SpecError("", f"the spec text is {len(text):,} characters; a spec is at most {MAX_SPEC_BYTES:,} "
                            "(a few KB is usual); is this the right file?")


def check_spec_data(data: Any) -> None:
    """Refuse decoded spec data that is too large, too deep or self-referencing, naming where.

    Counted with aliases expanded (what validation and JSON would walk) but in time linear in the
    distinct objects, so a 'billion laughs' alias bomb is refused at once instead of hanging.
    """
    _walk(data, "", 0, set(), {}, [0])


def _walk(obj: Any, path: str, depth: int, on_path: set[int], memo: dict[int, int], total: list[int]) -> int:
    if not isinstance(obj, dict | list | tuple):
        size = 1 + (len(obj) // 1024 if isinstance(obj, str | bytes) else 0)
        _count(total, size, path)
        return size
    key = id(obj)
    if key in memo:  # a YAML alias: the same object again, counted again without walking it again
        _count(total, memo[key], path)
        return memo[key]
    if key in on_path:
        raise SpecError(path, "refers to itself (a YAML alias inside its own anchor); write the value out")
    if depth >= MAX_SPEC_DEPTH:
        top = re.split(r"[.\[]", path, maxsplit=1)[0]
        raise SpecError(top, f"is nested more than {MAX_SPEC_DEPTH} levels deep; a spec is a few levels deep")
    on_path.add(key)
    size = 1
    _count(total, 1, path)
    items = obj.items() if isinstance(obj, dict) else enumerate(obj)
    for k, v in items:
        sub = (f"{path}.{k}" if path else str(k)) if isinstance(obj, dict) else f"{path}[{k}]"
        size += _walk(v, sub, depth + 1, on_path, memo, total)
    on_path.discard(key)
    memo[key] = size
    return size


def _count(total: list[int], n: int, path: str) -> None:
    total[0] += n
    if total[0] > MAX_SPEC_VALUES:
        raise SpecError(path, f"the spec expands to more than {MAX_SPEC_VALUES:,} values (YAML aliases that "
                              "repeat other aliases multiply: a 'billion laughs'); a spec has a few hundred")


# ---- graphs and models -----------------------------------------------------------------------------------


def check_node_count(count: int, name: str) -> None:
    """Called by Graph.add: an architecture may not expand beyond SKIPLAB_MAX_NODES nodes."""
    limit = max_nodes()
    if count >= limit:
        raise SpecError("", f"the architecture expands to more than {limit:,} nodes (stopped at node {name!r}); "
                            f"SkipLab analyses at most {limit:,} (SKIPLAB_MAX_NODES). Use fewer blocks, layers or "
                            "stages (a ResNet of 5,000 blocks is about 35,000 nodes)")


def param_total(graph: Graph, shapes: dict[str, Shape]) -> int:
    from engine.ops import get_op

    return sum(get_op(n.op).params([shapes[s] for s in n.inputs], n.args)
               for n in graph.nodes.values() if n.inputs)


def check_build(graph: Graph, shapes: dict[str, Shape], device: torch.device) -> None:
    """Before `engine.build.build` allocates: parameters under SKIPLAB_MAX_PARAMS, float32 weights in memory."""
    params = param_total(graph, shapes)
    label = graph.name or graph.family or "the model"
    limit = max_params()
    if limit is not None and params > limit:
        raise ResourceError(f"{label} has {params:,} parameters, more than the {limit:,} allowed "
                            "(SKIPLAB_MAX_PARAMS); use narrower or fewer layers, or raise SKIPLAB_MAX_PARAMS")
    if params >= 2**62:  # beyond int64: torch cannot even describe the tensors
        raise ResourceError(f"{label} has {params:.3g} parameters, beyond what any tensor library can hold; "
                            "use narrower or fewer layers")
    if device.type == "meta":
        return
    need = params * 4
    for dev in ("cpu", device) if device.type != "cpu" else ("cpu",):  # built on the CPU, then moved
        budget = memory_budget(dev)
        if budget.bytes is not None and need > budget.bytes:
            where = "RAM" if str(dev) == "cpu" else str(dev)
            raise ResourceError(f"{label} has {params:,} parameters: {fmt_bytes(need)} of float32 weights in "
                                f"{where}, more than the {fmt_bytes(budget.bytes)} allowed ({budget.source}); "
                                f"use narrower or fewer layers, or set {budget.fix}")


# ---- training -------------------------------------------------------------------------------------------


@dataclass
class TrainingEstimate:
    """Bytes a training run needs, from the analysis (engine.analysis memory) at the requested batches."""

    label: str
    params: int
    state_bytes: int  # weights + gradients + optimizer state
    saved_bytes: int  # activations saved for backward at `batch`
    eval_bytes: int  # live activations of a forward pass at `val_batch`
    batch: int
    val_batch: int

    @property
    def model_bytes(self) -> int:
        return self.state_bytes + max(self.saved_bytes, self.eval_bytes)

    def max_batch(self, budget: int, data_bytes: int) -> int:
        """The largest batch whose saved activations fit next to the state and the data (0: none)."""
        per_sample = self.saved_bytes / self.batch
        room = budget - data_bytes - self.state_bytes
        return int(room // per_sample) if per_sample > 0 and room > 0 else 0

    def check(self, device: str | torch.device, data_bytes: int = 0, data_label: str = "") -> None:
        """Raise ResourceError when the run would not fit ``device`` (and the data not fit RAM)."""
        import torch

        dev = torch.device(device)
        limit = max_params()
        if limit is not None and self.params > limit:
            raise ResourceError(f"{self.label} has {self.params:,} parameters, more than the {limit:,} allowed "
                                "(SKIPLAB_MAX_PARAMS); use narrower or fewer layers, or raise SKIPLAB_MAX_PARAMS")
        budget = memory_budget(dev)
        need = self.model_bytes + data_bytes
        if budget.bytes is not None and need > budget.bytes:
            raise ResourceError(self._message(need, budget, data_bytes, data_label, str(dev)))
        if dev.type != "cpu" and data_bytes:  # the data set is read into RAM before it moves to the device
            ram = memory_budget("cpu")
            if ram.bytes is not None and data_bytes > ram.bytes:
                raise ResourceError(f"the data set{data_label} takes about {fmt_bytes(data_bytes)}, more than the "
                                    f"{fmt_bytes(ram.bytes)} of RAM allowed ({ram.source}); use train_size / "
                                    f"val_size to take fewer samples, or set {ram.fix}")

    def _message(self, need: int, budget: Budget, data_bytes: int, data_label: str, device: str) -> str:
        assert budget.bytes is not None
        parts = [f"weights, gradients and optimizer state {fmt_bytes(self.state_bytes)}",
                 f"saved activations at batch {self.batch:,} {fmt_bytes(self.saved_bytes)}"]
        if self.eval_bytes > self.saved_bytes:
            parts.append(f"evaluation at batch {self.val_batch:,} {fmt_bytes(self.eval_bytes)}")
        if data_bytes:
            parts.append(f"data set{data_label} {fmt_bytes(data_bytes)}")
        fits = self.max_batch(budget.bytes, data_bytes)
        if self.state_bytes + data_bytes > budget.bytes:
            fix = ("the model's weights and optimizer state alone do not fit: use narrower or fewer layers"
                   if self.state_bytes > budget.bytes else "take fewer samples (train_size / val_size)")
        elif fits >= 1:
            fix = f"use batch_size {fits:,} or less"
            if self.eval_bytes > self.saved_bytes:
                fix += " and a smaller val_batch_size"
        else:
            fix = "use a smaller model or data set"
        return (f"training {self.label} on {device} needs about {fmt_bytes(need)} ({'; '.join(parts)}), more than "
                f"the {fmt_bytes(budget.bytes)} allowed ({budget.source}); {fix}, or set {budget.fix}")


def estimate_training(graph: Graph, cfg: TrainConfig) -> TrainingEstimate:
    """One analysis at the training batch (no tensors); evaluation memory scales linearly with the batch."""
    from engine.analysis import analyze

    a = analyze(graph, batch=cfg.batch_size)
    mem = a.memory
    train_key = "training_adamw_bytes" if cfg.optimizer == "adamw" else "training_sgd_momentum_bytes"
    saved = mem["saved_activations_bytes"]
    state = mem[train_key] - saved
    eval_bytes = math.ceil(mem["inference_peak_bytes"] * cfg.val_batch_size / cfg.batch_size)
    return TrainingEstimate(graph.name or graph.family or "the model", a.params, state, saved, eval_bytes,
                            cfg.batch_size, cfg.val_batch_size)


def check_training(graph: Graph, cfg: TrainConfig, device: str | torch.device) -> TrainingEstimate:
    """Refuse a run whose model, batch or data set would not fit, before the data is loaded."""
    est = estimate_training(graph, cfg)
    from engine.data.estimate import estimate_dataset_bytes

    data = estimate_dataset_bytes(cfg.dataset, cfg.dataset_options, graph.input_shape)
    est.check(device, data, f" {cfg.dataset!r}")
    return est


def dataset_bytes(data: Any) -> int:
    """Bytes of a loaded `engine.data.Dataset`'s tensors (what the trainer moves to the device)."""
    return sum(t.numel() * t.element_size() for t in (data.x_train, data.y_train, data.x_val, data.y_val))
