"""Where a small net's training step spends its time in engine.train.trainer (exploration for the speed budget)."""
import cProfile
import pstats
import sys

import torch

sys.path.insert(0, ".")
from engine.data import load_dataset  # noqa: E402
from engine.train.trainer import train  # noqa: E402

torch.set_num_threads(1)
ds = load_dataset("textures", size=12, train_size=2000, val_size=200)
spec = {"family": "resnet", "input": [3, 12, 12], "num_classes": 10, "stem": "cifar", "block": "basic",
        "shortcut": "none", "stages": [{"blocks": 5, "width": x} for x in (4, 8, 16)]}
cfg = {"dataset": "textures", "steps": 80, "batch_size": 64, "device": "cpu", "val_every": 20, "log_every": 10,
       "act_every": 0}
prof = cProfile.Profile()
prof.enable()
for _ in train(spec, cfg, dataset=ds):
    pass
prof.disable()
pstats.Stats(prof).sort_stats("cumulative").print_stats(25)
