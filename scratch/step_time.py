"""Seconds per SGD step of CIFAR ResNets on one CPU thread, by depth / width / image size / batch (exploration)."""
import json
import sys
import time

import torch

sys.path.insert(0, ".")
from engine.api import expand
from engine.build import build

torch.set_num_threads(int(sys.argv[1]) if len(sys.argv) > 1 else 1)
out = []
for depth, width, size, batch in [(20, 16, 16, 64), (56, 16, 16, 64), (20, 8, 16, 64), (56, 8, 16, 64),
                                  (20, 16, 32, 64), (56, 16, 32, 64), (20, 8, 32, 128), (56, 8, 32, 128),
                                  (110, 8, 16, 64), (20, 4, 16, 64), (56, 4, 16, 64)]:
    n = (depth - 2) // 6
    spec = {"family": "resnet", "input": [3, size, size], "num_classes": 10, "stem": "cifar", "block": "basic",
            "shortcut": "none", "stages": [{"blocks": n, "width": w} for w in (width, 2 * width, 4 * width)]}
    m = build(expand(spec), "cpu", seed=0).train()
    opt = torch.optim.SGD(m.parameters(), lr=0.01, momentum=0.9)
    x, y = torch.randn(batch, 3, size, size), torch.randint(0, 10, (batch,))
    for i in range(8):
        if i == 3:
            t0 = time.perf_counter()
        loss = torch.nn.functional.cross_entropy(m(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    dt = (time.perf_counter() - t0) / 5
    out.append({"depth": depth, "width": width, "size": size, "batch": batch, "s_per_step": round(dt, 4)})
    print(json.dumps(out[-1]), flush=True)
