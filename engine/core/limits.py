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

Spec text and data are bounded in `engine.spec.loader`; what a training run needs, in `engine.train.budget`.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from engine.core.errors import ResourceError, SpecError
from engine.core.text import fmt_bytes

if TYPE_CHECKING:
    import torch

MARGIN = 0.8  # share of the free memory a run may plan to use
DEFAULT_MAX_NODES = 50_000
_UNITS = {"": 1, "b": 1, "k": 2**10, "kb": 2**10, "kib": 2**10, "m": 2**20, "mb": 2**20, "mib": 2**20,
          "g": 2**30, "gb": 2**30, "gib": 2**30, "t": 2**40, "tb": 2**40, "tib": 2**40}


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


# ---- graphs -------------------------------------------------------------------------------------------


def check_node_count(count: int, name: str) -> None:
    """Called by Graph.add: an architecture may not expand beyond SKIPLAB_MAX_NODES nodes."""
    limit = max_nodes()
    if count >= limit:
        raise SpecError("", f"the architecture expands to more than {limit:,} nodes (stopped at node {name!r}); "
                            f"SkipLab analyses at most {limit:,} (SKIPLAB_MAX_NODES). Use fewer blocks, layers or "
                            "stages (a ResNet of 5,000 blocks is about 35,000 nodes)")
