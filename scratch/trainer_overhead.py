"""Wall time of engine.train.trainer.train vs a bare SGD loop on the same net (exploration)."""
import sys
import time

import torch

sys.path.insert(0, ".")
from engine.data import load_dataset
from engine.train.trainer import train

torch.set_num_threads(1)
ds = load_dataset("shapes", size=16, train_size=5000, val_size=1000)
for depth, w in ((20, 8), (56, 8), (56, 4)):
    n = (depth - 2) // 6
    spec = {"family": "resnet", "input": [3, 16, 16], "num_classes": 10, "stem": "cifar", "block": "basic",
            "shortcut": "none", "stages": [{"blocks": n, "width": x} for x in (w, 2 * w, 4 * w)]}
    for log_every in (10, 1):
        t0 = time.perf_counter()
        for _ev in train(spec, {"dataset": "shapes", "steps": 60, "batch_size": 64, "device": "cpu", "val_every": 0,
                               "log_every": log_every, "act_every": 0}, dataset=ds):
            pass
        dt = round((time.perf_counter() - t0) / 60, 4)
        print(depth, w, "log_every", log_every, dt, "s/step (incl. setup, final val)")
