"""Exploration for the degradation recipe: does a setup let plain20 / plain56 leave chance, and where do the four
nets end? Prints the training-error curve (mean batch error over each tenth of the run) per net.

    python scratch/degradation_explore.py '{"dataset": "shapes", "size": 16, "width": 8, "steps": 600, "lr": 0.1}'
"""
import json
import sys
import time

import numpy as np
import torch

sys.path.insert(0, ".")
from engine.data import load_dataset  # noqa: E402
from engine.train.events import Done, Metrics  # noqa: E402
from engine.train.trainer import train  # noqa: E402

torch.set_num_threads(1)
a = {"dataset": "shapes", "size": 16, "width": 8, "steps": 600, "lr": 0.1, "batch": 64, "seed": 0, "warmup": 0,
     "schedule": "step", "nets": ["plain20", "plain56", "resnet20", "resnet56"], "wd": 1e-4, "train_size": 5000,
     "data_opts": {}}
a.update(json.loads(sys.argv[1]) if len(sys.argv) > 1 else {})
opts = {"train_size": a["train_size"], "val_size": 1000, **a["data_opts"]}
if a["dataset"] in ("shapes", "textures"):
    opts["size"] = a["size"]
if a["dataset"] == "textures":
    ds = load_dataset("textures", size=a["size"], train_size=a["train_size"], val_size=1000)
elif a["dataset"] == "proto_textures":
    sys.path.insert(0, "scratch")
    from textures_proto import make  # noqa: E402

    from engine.data.core import make_image_dataset  # noqa: E402
    rng = np.random.default_rng(0)
    xt, yt = make(a["train_size"], a["size"], rng, tint=a.get("tint", 1.0))
    xv, yv = make(1000, a["size"], rng, tint=a.get("tint", 1.0))
    ds = make_image_dataset("textures", xt, yt, xv, yv, num_classes=10, augment=False)
    a["dataset"] = "shapes"  # config needs a registered name; the dataset object is passed in
else:
    ds = load_dataset(a["dataset"], **opts)
c, h = ds.x_train.shape[1], ds.x_train.shape[2]
print(json.dumps(a), flush=True)
for net in a["nets"]:
    depth = int(net.removeprefix("plain").removeprefix("resnet"))
    n = (depth - 2) // 6
    w = a["width"]
    spec = {"family": "resnet", "input": [c, h, h], "num_classes": ds.info.num_classes, "stem": "cifar",
            "block": "basic", "shortcut": "none" if net.startswith("plain") else "A",
            "stages": [{"blocks": n, "width": x} for x in (w, 2 * w, 4 * w)]}
    cfg = {"dataset": a["dataset"], "steps": a["steps"], "batch_size": a["batch"], "device": "cpu", "val_every": 0,
           "log_every": 5, "act_every": 0, "lr": a["lr"], "seed": a["seed"], "schedule": a["schedule"],
           "step_every": a.get("step_every") or a["steps"] // 2, "warmup_steps": a["warmup"],
           "weight_decay": a["wd"], "diverge_factor": None}
    t0 = time.perf_counter()
    errs, losses, val = [], [], None
    for ev in train(spec, cfg, dataset=ds):
        if isinstance(ev, Metrics) and "acc" in ev.values:
            errs.append(1 - ev.values["acc"])
            losses.append(ev.values["loss"])
        if isinstance(ev, Metrics) and "val_acc" in ev.values:
            val = 1 - ev.values["val_acc"]
        if isinstance(ev, Done):
            status = ev.status
    e = np.array(errs)
    tenths = [round(float(x.mean()), 3) for x in np.array_split(e, 10)]
    print(f"{net:9s} {status} {time.perf_counter() - t0:5.0f}s train err by tenth {tenths} "
          f"end loss {np.mean(losses[-max(1, len(losses)//10):]):.3f} val err {val:.3f}", flush=True)
