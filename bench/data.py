"""Dataset build times. Run ``python bench/data.py``; prints one JSON object.

Goal: ``shapes`` with its default 5000 + 1000 images in well under 2 s on a laptop CPU.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # `python bench/NAME.py` from a fresh clone: the engine is not installed

from engine.data import load_dataset  # noqa: E402


def timed(name: str, **options: object) -> float:
    t0 = time.perf_counter()
    load_dataset(name, **options)
    return round((time.perf_counter() - t0) * 1000, 1)


def main() -> None:
    timed("shapes", train_size=10, val_size=10)  # warm up imports and allocator
    print(json.dumps({
        "shapes_6000_ms": timed("shapes"),
        "shapes_seg_2400_ms": timed("shapes_seg"),
        "sequence_6000_ms": timed("sequence"),
        "digits_ms": timed("digits"),
        "digits_32px_ms": timed("digits", size=32),
    }))


if __name__ == "__main__":
    main()
