"""Small inputs that used to stall the engine (issue 14, class 4): the time to refuse each one, side by side with
the time to accept an ordinary input of the same kind, in the same run. Prints one JSON object.

    PYTHONPATH=. python bench/bounds.py

Goal: every refusal is a fraction of a second (it reads a header or counts, never expands or allocates), so
no input within the upload limits can hold a server thread for long. What the code before issue 14 did with
the same inputs (measured then): the alias bomb as `--config`, a 58 MB message or a MemoryError; the 10^12-entry
sweep grid, materialised until memory ran out; the 2 GiB CIFAR batch and the .gz IDX declaring 10^6 images,
unpickled / inflated whole; 200,000 nested '[', about 5 s in the Python YAML parser. Edits are bench/edits.py.
"""

from __future__ import annotations

import gzip
import json
import statistics
import struct
import sys
import tempfile
import time
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # `python bench/bounds.py` from anywhere: the engine is not installed

from engine.core.errors import SkipLabError  # noqa: E402
from engine.data import load_dataset  # noqa: E402
from engine.lab.sweeps import parse_sweep  # noqa: E402
from engine.spec import decode  # noqa: E402

# 9 levels of 9-fold aliases: 9^9 (387 million) strings once expanded; 300 bytes of text
ALIAS_BOMB = "a: &a [x,x,x,x,x,x,x,x,x]\n" + "".join(
    f"{c}: &{c} [*{p},*{p},*{p},*{p},*{p},*{p},*{p},*{p},*{p}]\n" for p, c in zip("abcdefgh", "bcdefghi", strict=True))


def timed(call: Callable[[], object], repeats: int = 3) -> dict[str, Any]:
    """Median seconds of `call`, and whether it was refused (a SkipLabError) with the first words of why."""
    times, cpu, outcome = [], [], "accepted"
    for _ in range(repeats):
        t0, c0 = time.perf_counter(), time.process_time()
        try:
            call()
        except SkipLabError as exc:
            outcome = "refused: " + str(exc)[:90]
        times.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    # CPU seconds beside the wall: on a shared machine the wall time mostly measures the other processes
    return {"seconds": round(statistics.median(times), 4), "cpu_seconds": round(statistics.median(cpu), 4),
            "outcome": outcome}


def _png(path: Path, side: int) -> None:
    """A greyscale PNG declaring side x side pixels; above 64 x 64 it holds a few bytes only (what a decompression
    bomb looks like: decoding would allocate what the header declares)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", side, side, 8, 0, 0, 0, 0)
    pixels = zlib.compress(bytes((side + 1) * min(side, 64)))
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", pixels) + chunk(b"IEND", b""))


def _idx(folder: Path, images: int) -> None:
    folder.mkdir(exist_ok=True)
    for prefix, n in (("train", images), ("t10k", 10)):
        with gzip.open(folder / f"{prefix}-images-idx3-ubyte.gz", "wb") as f:
            f.write(bytes([0, 0, 8, 3]) + struct.pack(">3I", n, 28, 28) + bytes(784 * min(n, 100)))
        with gzip.open(folder / f"{prefix}-labels-idx1-ubyte.gz", "wb") as f:
            f.write(bytes([0, 0, 8, 1]) + struct.pack(">I", n) + bytes(min(n, 100)))


def main() -> dict[str, Any]:
    tmp = Path(tempfile.mkdtemp(prefix="skiplab-bounds-"))
    flat = "x: [" + ",".join(["1"] * 250_000) + "]\n"  # 500 KB of one flat list: the largest text accepted
    grid_small = {"base": "resnet8", "grid": {"lr": [0.1, 0.01], "stages.0.blocks": [1, 2, 3]}}
    grid_huge = {"base": "resnet8", "grid": {f"k{i}": list(range(10)) for i in range(12)}}  # 10^12 entries
    (tmp / "cifar-10-batches-py").mkdir()
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        with open(tmp / "cifar-10-batches-py" / name, "wb") as f:
            f.truncate(2 << 30)  # 2 GiB, sparse: unpickling it would allocate it all
    for cls in ("a", "b"):
        (tmp / "ok" / cls).mkdir(parents=True)
        (tmp / "bomb" / cls).mkdir(parents=True)
        _png(tmp / "ok" / cls / "x.png", 8)
        _png(tmp / "bomb" / cls / "x.png", 8)
    _png(tmp / "bomb" / "a" / "bomb.png", 60_000)  # 3.6 gigapixels declared
    _idx(tmp / "mnist_small", 100)
    _idx(tmp / "mnist_huge", 10**7)  # declares 7.8 GB of images (31 GB as float32)
    cases = {
        "config text": {"ordinary": timed(lambda: decode("steps: 10\nlr: 0.1\n", what="config")),
                        "alias bomb (9^9 values)": timed(lambda: decode(ALIAS_BOMB + "x: *i\n", what="config"))},
        "spec text": {"flat list of 250,000 values (500 KB)": timed(lambda: decode(flat)),
                      "200,000 nested '['": timed(lambda: decode("x: " + "[" * 200_000))},
        "sweep grid": {"6 entries": timed(lambda: parse_sweep(grid_small)),
                       "10^12 entries": timed(lambda: parse_sweep(grid_huge))},
        "CIFAR-10 batch": {"2 GiB batch files (sparse)": timed(lambda: load_dataset("cifar10", path=str(tmp)))},
        "IDX .gz": {"100 images": timed(lambda: load_dataset("mnist", path=str(tmp / "mnist_small"))),
                    "header declaring 10^7 images": timed(lambda: load_dataset("mnist", path=str(tmp / "mnist_huge")))},
        "image folder": {"two 8x8 PNGs": timed(lambda: load_dataset("imagefolder", path=str(tmp / "ok"), size=8)),
                         "a PNG declaring 60,000 x 60,000": timed(
                             lambda: load_dataset("imagefolder", path=str(tmp / "bomb"), size=8))},
    }
    worst = max(r["seconds"] for group in cases.values() for k, r in group.items() if r["outcome"] != "accepted")
    return {"cases": cases, "slowest_refusal_s": worst,
            "goal": "every refusal well under 1 s, near the time an ordinary input of its kind takes"}


if __name__ == "__main__":
    json.dump(main(), sys.stdout, indent=2)
    print()
