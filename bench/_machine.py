"""How busy the machine was while a bench measured: a helper of the benches (`make bench` skips `_*.py`).

The load average counts this bench's own threads too, so it cannot say whether *others* were running. On Linux,
`/proc/stat` gives the CPU time all processes used and `/proc/self/stat` (with `os.times()` for children) this
process's own: the difference over an interval is the CPU the rest of the machine took, in cores. Elsewhere only
the load average is known and the check falls back to it (less exact: it includes the bench itself).
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

PROC_STAT = Path("/proc/stat")
TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def _busy_seconds() -> float | None:
    """CPU seconds every process has used since boot (all cores), or None without /proc."""
    try:
        fields = PROC_STAT.read_text().split("\n", 1)[0].split()[1:]
    except OSError:
        return None
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(v) for v in fields[:8])
    return (user + nice + system + irq + softirq + steal) / TICKS


def _own_seconds() -> float:
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


@dataclass
class Window:
    """One measured interval: `others_cores` is the CPU the rest of the machine used, in cores (None: unknown)."""

    wall_s: float
    others_cores: float | None
    loadavg_start: tuple[float, float, float]
    loadavg_end: tuple[float, float, float]

    def quiet(self, max_others_cores: float, own_threads: int) -> bool:
        if self.others_cores is not None:
            return self.others_cores <= max_others_cores
        return self.loadavg_end[0] - own_threads <= max_others_cores  # no /proc: the load average, less us

    def as_dict(self) -> dict[str, Any]:
        return {"wall_s": round(self.wall_s, 2),
                "others_cpu_cores": None if self.others_cores is None else round(self.others_cores, 2),
                "loadavg_start": [round(v, 2) for v in self.loadavg_start],
                "loadavg_end": [round(v, 2) for v in self.loadavg_end], "cpus": os.cpu_count()}


class Watch:
    """``with Watch() as w: ...`` then ``w.window``: how busy the machine was meanwhile."""

    def __enter__(self) -> Watch:
        self._t, self._busy, self._own, self._load = time.perf_counter(), _busy_seconds(), _own_seconds(), \
            os.getloadavg()
        return self

    def __exit__(self, *exc: object) -> None:
        wall = time.perf_counter() - self._t
        busy, own = _busy_seconds(), _own_seconds()
        others = None
        if busy is not None and self._busy is not None and wall > 0:
            others = max(0.0, (busy - self._busy) - (own - self._own)) / wall
        self.window = Window(wall, others, self._load, os.getloadavg())


def others_now(seconds: float = 2.0) -> Window:
    """Sample the machine for `seconds` while this process sleeps."""
    with Watch() as w:
        time.sleep(seconds)
    return w.window


def wait_until_quiet(max_others_cores: float, timeout_s: float, poll_s: float = 5.0) -> Window:
    """Poll until the rest of the machine uses at most `max_others_cores`, or `timeout_s` passes; the last sample."""
    deadline = time.monotonic() + timeout_s
    while True:
        window = others_now(min(poll_s, 2.0))
        if window.quiet(max_others_cores, own_threads=0) or time.monotonic() >= deadline:
            return window
        time.sleep(max(0.0, poll_s - 2.0))
