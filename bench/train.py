"""Training throughput and monitor overhead, measured side by side in one run; prints one JSON object.

    python bench/train.py            # a few minutes on 2 CPU cores
    python bench/train.py --learn    # also the issue's learning figures (resnet20 on shapes ...), minutes more

1. ``trainer_vs_bare``: our trainer (default monitoring: stats every 10 steps, activations every 50,
   a health check every step) vs a bare hand-written loop doing the same work (same model, data order,
   augmentation, optimizer and schedule). Rounds alternate which one runs first; the ratio is of
   median throughputs. Target >= 0.97.
2. ``monitor_overhead``: resnet56 at batch 64 with gradient statistics on EVERY step, interleaved with
   plain steps on the same model (odd steps monitored, even steps not), so both see the same machine
   state. Target <= 3%. Activation hooks (normally every 50 steps) are reported separately.
3. ``flops``: achieved training FLOP/s (3 x the analytic forward FLOPs: forward + backward ~ 2x forward)
   as a fraction of a measured large float32 matmul FLOP/s on the same machine.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # `python bench/NAME.py` from a fresh clone: the engine is not installed

from engine.analysis import analyze  # noqa: E402
from engine.api import expand  # noqa: E402
from engine.build import build  # noqa: E402
from engine.data import augment_batch, batches, load_dataset  # noqa: E402
from engine.train.config import TrainConfig  # noqa: E402
from engine.train.events import Done  # noqa: E402
from engine.train.monitor import ActivationProbe, GradientMonitor, find_layers  # noqa: E402
from engine.train.optim import lr_at, make_optimizer, set_lr  # noqa: E402
from engine.train.trainer import train  # noqa: E402


def bare_loop(spec: str, ds: Any, cfg: TrainConfig) -> float:
    """The loop anyone would write by hand; returns steps/s over the same steps the trainer times."""
    torch.manual_seed(cfg.seed)
    model = build(expand(spec), "cpu", seed=cfg.seed)
    model.train()
    opt = make_optimizer(model, cfg)
    gen = torch.Generator().manual_seed(cfg.seed)
    it = iter(())
    t0 = time.perf_counter()
    for step in range(cfg.steps):
        try:
            x, y = next(it)
        except StopIteration:
            it = batches(ds.x_train, ds.y_train, cfg.batch_size, shuffle=True, generator=gen, drop_last=True)
            x, y = next(it)
        x = augment_batch(x, gen)
        set_lr(opt, lr_at(cfg, step))
        loss = F.cross_entropy(model(x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if (step + 1) % cfg.log_every == 0:
            float(loss.detach())  # a hand-written loop prints its loss now and then too
    return cfg.steps / (time.perf_counter() - t0)


def ours(spec: str, ds: Any, cfg: TrainConfig) -> float:
    done = [ev for ev in train(spec, cfg, dataset=ds) if isinstance(ev, Done)][0]
    return done.summary["it_s"]


def trainer_vs_bare(spec: str, ds: Any, steps: int, rounds: int, batch: int) -> dict[str, Any]:
    cfg = TrainConfig(dataset="shapes", steps=steps, batch_size=batch, device="cpu", val_every=0, save_weights=False,
                      augment=True)
    ours(spec, ds, cfg.model_copy(update={"steps": 3}))  # warm up kernels and allocator for both
    a, b = [], []
    for r in range(rounds):
        if r % 2 == 0:
            a.append(ours(spec, ds, cfg))
            b.append(bare_loop(spec, ds, cfg))
        else:
            b.append(bare_loop(spec, ds, cfg))
            a.append(ours(spec, ds, cfg))
    return {"model": spec, "batch": batch, "steps_per_round": steps, "rounds": rounds,
            "trainer_it_s": [round(v, 3) for v in a], "bare_it_s": [round(v, 3) for v in b],
            "ratio_of_medians": round(statistics.median(a) / statistics.median(b), 4), "target": ">= 0.97"}


def monitor_overhead(spec: str, ds: Any, pairs: int, batch: int) -> dict[str, Any]:
    graph = expand(spec)
    model = build(graph, "cpu", seed=0)
    model.train()
    layers, params = find_layers(graph, model)
    dev = torch.device("cpu")
    mon = GradientMonitor(layers, params, dev)
    probe = ActivationProbe(graph, model, layers, dev)
    opt = make_optimizer(model, TrainConfig())
    gen = torch.Generator().manual_seed(0)
    x_all, y_all = ds.x_train, ds.y_train

    def step(monitored: bool, act: bool, i: int) -> float:
        idx = torch.randint(0, len(x_all), (batch,), generator=gen)
        x, y = x_all[idx], y_all[idx]
        t = time.perf_counter()
        ctx = probe.capture(i) if act else contextlib.nullcontext()
        with ctx:
            loss = F.cross_entropy(model(x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        if monitored:
            gn = mon.grad_norms()
            mon.snapshot()
        opt.step()
        if monitored:
            mon.record(i, gn)
            mon.flush()
        if act:
            probe.flush()
        return time.perf_counter() - t

    for i in range(2):
        step(True, False, i)
    on, off = [], []
    for i in range(pairs):
        first, second = (True, False) if i % 2 == 0 else (False, True)  # alternate the order within pairs
        t1 = step(first, False, i)
        t2 = step(second, False, i)
        (on if first else off).append(t1)
        (on if second else off).append(t2)
    act_on, act_off = [], []
    for i in range(max(2, pairs // 4)):
        act_on.append(step(True, True, i))
        act_off.append(step(True, False, i))
    # the monitor's own work, timed alone (the per-step difference above is within machine noise)
    loss = F.cross_entropy(model(x_all[:batch]), y_all[:batch])
    opt.zero_grad()
    loss.backward()
    t = time.perf_counter()
    for i in range(20):
        gn = mon.grad_norms()
        mon.snapshot()
        mon.record(i, gn)
        mon.flush()
    alone = (time.perf_counter() - t) / 20
    m_on, m_off = statistics.median(on), statistics.median(off)
    return {"model": spec, "batch": batch, "layers": len(layers), "pairs": pairs,
            "step_s_monitored_median": round(m_on, 4), "step_s_plain_median": round(m_off, 4),
            "overhead": round(m_on / m_off - 1, 4),
            "overhead_mean": round(statistics.mean(on) / statistics.mean(off) - 1, 4),
            "monitor_work_alone_s": round(alone, 5), "monitor_work_fraction": round(alone / m_off, 5),
            "activation_hooks_overhead": round(statistics.median(act_on) / statistics.median(act_off) - 1, 4),
            "target": "<= 0.03"}


def matmul_flops(n: int = 2048, reps: int = 10) -> float:
    a, b = torch.randn(n, n), torch.randn(n, n)
    a @ b
    t = time.perf_counter()
    for _ in range(reps):
        a @ b
    return 2 * n**3 * reps / (time.perf_counter() - t)


def flops(spec: str, batch: int, it_s: float) -> dict[str, Any]:
    fwd = analyze(expand(spec), batch=batch).flops
    achieved = 3 * fwd * it_s
    peak = max(matmul_flops() for _ in range(3))
    return {"model": spec, "batch": batch, "forward_flops_per_step": fwd, "train_flops_per_step": 3 * fwd,
            "achieved_flop_s": round(achieved), "matmul_flop_s": round(peak), "fraction": round(achieved / peak, 4)}


def learn() -> dict[str, Any]:
    """The issue's figures: resnet20 on shapes (400 steps, batch 64), logistic regression, residual MLP."""
    out: dict[str, Any] = {}
    shapes = load_dataset("shapes")
    logreg = {"family": "graph", "name": "logreg", "input": [3, 32, 32],
              "nodes": [{"name": "head.flatten", "op": "flatten"},
                        {"name": "head.fc", "op": "linear", "in": "head.flatten", "out_features": 10}]}
    digits = load_dataset("digits", flatten=True)
    import engine.arch.families  # noqa: F401
    from engine.arch import FAMILIES
    if "mlp" in FAMILIES:
        mlp: Any = {"family": "mlp", "input": [64], "depth": 8, "width": 128, "connection": "residual"}
    else:
        from tests.train_helpers import mlp_graph

        mlp = mlp_graph(8, width=128, residual=True)
    for key, spec, ds, cfg in [
        ("resnet20_shapes", "resnet20", shapes, {"steps": 400, "batch_size": 64, "val_every": 100}),
        ("logreg_shapes", logreg, shapes, {"steps": 400, "batch_size": 64, "optimizer": "adamw", "augment": False,
                                           "val_every": 100}),
        ("residual_mlp_digits", mlp, digits, {"steps": 500, "batch_size": 64, "optimizer": "adamw",
                                              "val_every": 100}),
    ]:
        vals = []
        done = None
        for ev in train(spec, {"device": "cpu", "save_weights": False, **cfg}, dataset=ds):
            if hasattr(ev, "values") and "val_acc" in ev.values:
                vals.append((ev.step, round(ev.values["val_acc"], 4)))
            if isinstance(ev, Done):
                done = ev
        assert done is not None
        out[key] = {"val_acc": round(done.summary["val_acc"], 4), "val_acc_by_step": vals,
                    "wall_s": round(done.wall_s, 1), **cfg}
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="resnet20", help="model for trainer vs bare loop and FLOP/s")
    ap.add_argument("--steps", type=int, default=30, help="steps per round (trainer vs bare)")
    ap.add_argument("--rounds", type=int, default=4)
    ap.add_argument("--pairs", type=int, default=16, help="interleaved step pairs for the monitor overhead")
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--learn", action="store_true", help="also run the learning figures (minutes)")
    args = ap.parse_args()
    t0 = time.perf_counter()
    ds = load_dataset("shapes", train_size=2048, val_size=64)
    res: dict[str, Any] = {
        "machine": {"python": platform.python_version(), "torch": torch.__version__, "threads": torch.get_num_threads(),
                    "cpus": os.cpu_count(), "OMP_WAIT_POLICY": os.environ.get("OMP_WAIT_POLICY"),
                    "loadavg_start": os.getloadavg()},
    }
    res["trainer_vs_bare"] = tvb = trainer_vs_bare(args.model, ds, args.steps, args.rounds, args.batch)
    res["monitor_overhead"] = monitor_overhead("resnet56", ds, args.pairs, args.batch)
    res["flops"] = flops(args.model, args.batch, statistics.median(tvb["trainer_it_s"]))
    if args.learn:
        res["learn"] = learn()
    res["machine"]["loadavg_end"] = os.getloadavg()
    res["wall_s"] = round(time.perf_counter() - t0, 1)
    print(json.dumps(res, indent=2))


if __name__ == "__main__":
    main()
