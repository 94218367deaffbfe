"""Seconds per step through engine.train.trainer for small CIFAR nets (exploration of what fits the budget)."""
import sys
import time

import torch

sys.path.insert(0, ".")
from engine.data import load_dataset  # noqa: E402
from engine.train.trainer import train  # noqa: E402

torch.set_num_threads(1)
for size, w, b in ((8, 4, 32), (8, 8, 64), (12, 4, 32)):
    ds = load_dataset("textures", size=size, train_size=2000, val_size=200)
    for depth in (20, 56):
        n = (depth - 2) // 6
        spec = {"family": "resnet", "input": [3, size, size], "num_classes": 10, "stem": "cifar", "block": "basic",
                "shortcut": "none", "stages": [{"blocks": n, "width": x} for x in (w, 2 * w, 4 * w)]}
        t0 = time.perf_counter()
        for _ in train(spec, {"dataset": "textures", "steps": 40, "batch_size": b, "device": "cpu", "val_every": 0,
                              "log_every": 5, "act_every": 0}, dataset=ds):
            pass
        print(size, w, b, depth, round((time.perf_counter() - t0) / 40, 4), "s/step", flush=True)
