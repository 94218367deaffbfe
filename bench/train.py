"""Training throughput and monitor overhead, measured side by side in one run; prints one JSON object.

    python bench/train.py                      # CPU: a few minutes on 2 cores
    python bench/train.py --device cuda        # a GPU: AMP (bf16 where supported, else fp16), host-sync count
    python bench/train.py --learn              # also the issue's learning figures (resnet20 on shapes ...)

Every figure comes with how busy the machine was while it was measured: the load average and, on Linux, the CPU
the *other* processes used (`bench/_machine.py`). A ratio measured while others used more than `--max-busy` cores
is not reported (null, with the reason): on a shared machine it says more about the neighbours than about the
code. `--retries` repeats a refused measurement; `--wait` first waits for a quiet machine.

1. ``trainer_vs_bare``: our trainer (default monitoring: stats every 10 steps, activations every 50, a health
   check every step) vs a bare hand-written loop doing the same work (same model, data order, augmentation,
   optimizer, schedule, AMP). Rounds alternate which runs first; the ratio is of median throughputs. Target >= 0.97.
   Cases: resnet20 at batch 64 and resnet56 at batch 128 (`--cases`).
2. ``monitor_overhead``: resnet56 with gradient statistics on EVERY step, interleaved with plain steps on the same
   model (odd steps monitored, even not), so both see the same machine. Target <= 3%.
3. ``flops``: achieved training FLOP/s (3 x the analytic forward FLOPs: backward ~ 2x forward) as a fraction of a
   measured large matmul on the same device, in the dtype the run computes in (float32, or the AMP dtype).
4. ``host_syncs`` (CUDA only): the trainer's device-to-host synchronisations per step, counted by
   `torch.cuda.set_sync_debug_mode`; the design is one every `flush_every` steps, none per step.
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
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # `python bench/NAME.py` from a fresh clone: the engine is not installed

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from bench._machine import Watch, Window, others_now, wait_until_quiet  # noqa: E402
from engine.analysis import analyze  # noqa: E402
from engine.api import expand  # noqa: E402
from engine.build import build, resolve_device  # noqa: E402
from engine.data import augment_batch, batches, load_dataset  # noqa: E402
from engine.train.config import TrainConfig  # noqa: E402
from engine.train.events import Done, Started  # noqa: E402
from engine.train.monitor import ActivationProbe, GradientMonitor, find_layers  # noqa: E402
from engine.train.optim import lr_at, make_optimizer, set_lr  # noqa: E402
from engine.train.trainer import train  # noqa: E402


class Bench:
    """The settings every measurement shares: device, AMP, and the rule for a busy machine."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.device = resolve_device(args.device)
        amp = args.amp
        if amp == "auto":
            amp = "off" if self.device.type != "cuda" else ("bf16" if torch.cuda.is_bf16_supported() else "fp16")
        if amp != "off" and self.device.type != "cuda":
            raise SystemExit(f"--amp {amp} needs a CUDA device, but the bench runs on {self.device.type}; "
                             "use --amp off or --device cuda")
        self.amp = amp
        self.max_busy, self.retries = args.max_busy, args.retries
        self.threads = torch.get_num_threads() if self.device.type == "cpu" else 1

    def sync(self) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)

    def autocast(self) -> contextlib.AbstractContextManager:
        if self.amp == "off":
            return contextlib.nullcontext()
        return torch.autocast("cuda", dtype=torch.bfloat16 if self.amp == "bf16" else torch.float16)

    def config(self, **kw: Any) -> TrainConfig:
        return TrainConfig(dataset="shapes", device=str(self.device), amp=self.amp, val_every=0, save_weights=False,
                           augment=True, **kw)

    def measured(self, fn: Callable[[], dict[str, Any]], ratio_keys: tuple[str, ...]) -> dict[str, Any]:
        """Run `fn` (up to 1 + retries times) until the machine stayed quiet; a busy run's ratios become null."""
        for attempt in range(1 + self.retries):
            with Watch() as watch:
                res = fn()
            window: Window = watch.window
            res["machine"] = {**window.as_dict(), "attempt": attempt + 1}
            if window.quiet(self.max_busy, self.threads):
                res["machine"]["quiet"] = True
                return res
        res["machine"]["quiet"] = False
        busy = (f"{window.others_cores:.2f} cores" if window.others_cores is not None
                else f"load average {window.loadavg_end[0]:.2f}")
        for key in ratio_keys:
            res[f"{key}_refused"] = res.pop(key)
            res[key] = None
        res["refused"] = (f"not reported: other processes used {busy} of {os.cpu_count()} while this ran (limit "
                          f"--max-busy {self.max_busy}); rerun on a quiet machine or with --wait/--retries")
        return res


def bare_loop(b: Bench, spec: str, ds: Any, cfg: TrainConfig) -> float:
    """The loop anyone would write by hand; returns steps/s over the same steps the trainer times."""
    torch.manual_seed(cfg.seed)
    model = build(expand(spec), b.device, seed=cfg.seed)
    model.train()
    opt = make_optimizer(model, cfg)
    scaler = torch.amp.GradScaler("cuda") if b.amp == "fp16" else None
    x_all, y_all = ds.x_train.to(b.device), ds.y_train.to(b.device)
    gen = torch.Generator().manual_seed(cfg.seed)
    it = iter(())
    b.sync()
    t0 = time.perf_counter()
    for step in range(cfg.steps):
        try:
            x, y = next(it)
        except StopIteration:
            it = batches(x_all, y_all, cfg.batch_size, shuffle=True, generator=gen, drop_last=True)
            x, y = next(it)
        x = augment_batch(x, gen)
        set_lr(opt, lr_at(cfg, step))
        with b.autocast():
            loss = F.cross_entropy(model(x).float(), y)
        opt.zero_grad(set_to_none=True)
        if scaler:
            scaler.scale(loss).backward()
            scaler.step(opt)
            scaler.update()
        else:
            loss.backward()
            opt.step()
        if (step + 1) % cfg.log_every == 0:
            float(loss.detach())  # a hand-written loop prints its loss now and then too
    b.sync()
    return cfg.steps / (time.perf_counter() - t0)


def ours(spec: str, ds: Any, cfg: TrainConfig) -> float:
    done = [ev for ev in train(spec, cfg, dataset=ds) if isinstance(ev, Done)][0]
    return done.summary["it_s"]


def trainer_vs_bare(b: Bench, spec: str, ds: Any, steps: int, rounds: int, batch: int) -> dict[str, Any]:
    cfg = b.config(steps=steps, batch_size=batch)
    ours(spec, ds, cfg.model_copy(update={"steps": 3}))  # warm up kernels and allocator for both
    bare_loop(b, spec, ds, cfg.model_copy(update={"steps": 3}))

    def run() -> dict[str, Any]:
        a, c = [], []
        for r in range(rounds):
            if r % 2 == 0:
                a.append(ours(spec, ds, cfg))
                c.append(bare_loop(b, spec, ds, cfg))
            else:
                c.append(bare_loop(b, spec, ds, cfg))
                a.append(ours(spec, ds, cfg))
        return {"model": spec, "batch": batch, "steps_per_round": steps, "rounds": rounds,
                "trainer_it_s": [round(v, 3) for v in a], "bare_it_s": [round(v, 3) for v in c],
                "trainer_median_it_s": round(statistics.median(a), 3),
                "ratio_of_medians": round(statistics.median(a) / statistics.median(c), 4), "target": ">= 0.97"}

    return b.measured(run, ("ratio_of_medians",))


def monitor_overhead(b: Bench, spec: str, ds: Any, pairs: int, batch: int) -> dict[str, Any]:
    graph = expand(spec)
    model = build(graph, b.device, seed=0)
    model.train()
    layers, params = find_layers(graph, model)
    mon = GradientMonitor(layers, params, b.device)
    probe = ActivationProbe(graph, model, layers, b.device)
    opt = make_optimizer(model, TrainConfig())
    gen = torch.Generator().manual_seed(0)
    x_all, y_all = ds.x_train.to(b.device), ds.y_train.to(b.device)

    def step(monitored: bool, act: bool, i: int) -> float:
        idx = torch.randint(0, len(x_all), (batch,), generator=gen).to(b.device)
        x, y = x_all[idx], y_all[idx]
        b.sync()
        t = time.perf_counter()
        with probe.capture(i) if act else contextlib.nullcontext(), b.autocast():
            loss = F.cross_entropy(model(x).float(), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        if monitored:  # as the trainer does: statistics of the gradient before the step, then the update ratio
            stats = mon.gradient_stats(mon.grad_norms())
            mon.snapshot()
        opt.step()
        if monitored:
            mon.record(i, stats)
            mon.flush()
        if act:
            probe.flush()
        b.sync()
        return time.perf_counter() - t

    for i in range(2):
        step(True, False, i)

    def run() -> dict[str, Any]:
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
        m_on, m_off = statistics.median(on), statistics.median(off)
        return {"model": spec, "batch": batch, "layers": len(layers), "pairs": pairs,
                "step_s_monitored_median": round(m_on, 4), "step_s_plain_median": round(m_off, 4),
                "overhead": round(m_on / m_off - 1, 4),
                "overhead_mean": round(statistics.mean(on) / statistics.mean(off) - 1, 4),
                "activation_hooks_overhead": round(statistics.median(act_on) / statistics.median(act_off) - 1, 4),
                "target": "<= 0.03"}

    res = b.measured(run, ("overhead", "overhead_mean", "activation_hooks_overhead"))
    # the monitor's own work, timed alone (the per-step difference above is within machine noise on a CPU)
    loss = F.cross_entropy(model(x_all[:batch]), y_all[:batch])
    opt.zero_grad()
    loss.backward()
    b.sync()
    t = time.perf_counter()
    for i in range(20):
        stats = mon.gradient_stats(mon.grad_norms())
        mon.snapshot()
        mon.record(i, stats)
        mon.flush()
    b.sync()
    res["monitor_work_alone_s"] = round((time.perf_counter() - t) / 20, 5)
    return res


def matmul_flop_s(b: Bench, dtype: torch.dtype, n: int, reps: int = 10) -> float:
    a = torch.randn(n, n, device=b.device, dtype=dtype)
    c = torch.randn(n, n, device=b.device, dtype=dtype)
    a @ c
    b.sync()
    t = time.perf_counter()
    for _ in range(reps):
        a @ c
    b.sync()
    return 2 * n**3 * reps / (time.perf_counter() - t)


def flops(b: Bench, case: dict[str, Any]) -> dict[str, Any]:
    """The trainer's throughput of `case` (a trainer_vs_bare result) against the matmul peak measured now."""
    spec, batch = case["model"], case["batch"]
    fwd = analyze(expand(spec), batch=batch).flops
    dtype = {"off": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}[b.amp]
    n = 2048 if b.device.type == "cpu" else 8192

    def run() -> dict[str, Any]:
        peak = max(matmul_flop_s(b, dtype, n) for _ in range(3))
        achieved = 3 * fwd * case["trainer_median_it_s"]
        out = {"model": spec, "batch": batch, "forward_flops_per_step": fwd, "train_flops_per_step": 3 * fwd,
               "achieved_flop_s": round(achieved), "matmul_dtype": str(dtype).removeprefix("torch."),
               "matmul_n": n, "matmul_flop_s": round(peak), "fraction": round(achieved / peak, 4)}
        if b.device.type == "cuda" and dtype != torch.float32:
            out["matmul_float32_flop_s"] = round(max(matmul_flop_s(b, torch.float32, n) for _ in range(3)))
        return out

    res = b.measured(run, ("fraction",))
    if not case["machine"]["quiet"] and res["fraction"] is not None:  # the throughput itself came from a busy run
        res["fraction_refused"], res["fraction"] = res["fraction"], None
        res["refused"] = "not reported: the trainer's throughput was measured on a busy machine (trainer_vs_bare)"
    return res


def host_syncs(b: Bench, spec: str, ds: Any, steps: int, batch: int) -> dict[str, Any]:
    """Device-to-host syncs of the trainer, counted by CUDA's sync debug mode from the first step to the end."""
    cfg = b.config(steps=steps, batch_size=batch)
    count = 0
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for ev in train(spec, cfg, dataset=ds):
            if isinstance(ev, Started):
                caught.clear()
                torch.cuda.set_sync_debug_mode("warn")
        torch.cuda.set_sync_debug_mode("default")
        count = sum("synchroniz" in str(w.message) for w in caught)
    return {"model": spec, "batch": batch, "steps": steps, "flush_every": cfg.flush_every, "syncs": count,
            "syncs_per_step": round(count / steps, 3), "design": f"about {1 / cfg.flush_every:.2g} per step (one "
            "copy of the buffered statistics every flush_every steps, plus the end of the run); >= 1: a per-step sync"}


def learn(b: Bench) -> dict[str, Any]:
    """The issue's figures: resnet20 on shapes (400 steps, batch 64), logistic regression, residual MLP."""
    out: dict[str, Any] = {}
    shapes = load_dataset("shapes")
    logreg = {"family": "graph", "name": "logreg", "input": [3, 32, 32],
              "nodes": [{"name": "head.flatten", "op": "flatten"},
                        {"name": "head.fc", "op": "linear", "in": "head.flatten", "out_features": 10}]}
    digits = load_dataset("digits", flatten=True)
    mlp: Any = {"family": "mlp", "input": [64], "depth": 8, "width": 128, "connection": "residual"}
    for key, spec, ds, cfg in [
        ("resnet20_shapes", "resnet20", shapes, {"steps": 400, "batch_size": 64, "val_every": 100}),
        ("logreg_shapes", logreg, shapes, {"steps": 400, "batch_size": 64, "optimizer": "adamw", "augment": False,
                                           "val_every": 100}),
        ("residual_mlp_digits", mlp, digits, {"steps": 500, "batch_size": 64, "optimizer": "adamw",
                                              "val_every": 100}),
    ]:
        vals, done = [], None
        for ev in train(spec, {"device": str(b.device), "save_weights": False, **cfg}, dataset=ds):
            if hasattr(ev, "values") and "val_acc" in ev.values:
                vals.append((ev.step, round(ev.values["val_acc"], 4)))
            if isinstance(ev, Done):
                done = ev
        assert done is not None
        out[key] = {"val_acc": round(done.summary["val_acc"], 4), "val_acc_by_step": vals,
                    "wall_s": round(done.wall_s, 1), **cfg}
    return out


def parse_case(text: str) -> tuple[str, int, int]:
    """`resnet56@128:10` -> (model, batch, steps per round)."""
    model, _, rest = text.partition("@")
    batch, _, steps = rest.partition(":")
    return model, int(batch or 64), int(steps or 30)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", default="cpu", help="auto | cpu | cuda | mps (default cpu)")
    ap.add_argument("--amp", default="auto", choices=["auto", "off", "bf16", "fp16"],
                    help="mixed precision on CUDA (auto: bf16 where supported, else fp16; off on CPU)")
    ap.add_argument("--cases", nargs="+", default=["resnet20@64:30", "resnet56@128:10"],
                    help="MODEL@BATCH:STEPS for trainer vs bare loop and FLOP/s")
    ap.add_argument("--rounds", type=int, default=4)
    ap.add_argument("--pairs", type=int, default=16, help="interleaved step pairs for the monitor overhead")
    ap.add_argument("--max-busy", type=float, default=0.25,
                    help="CPU cores other processes may use while a ratio is measured (default a quarter core)")
    ap.add_argument("--retries", type=int, default=1, help="repeat a measurement refused for a busy machine")
    ap.add_argument("--wait", type=float, default=0, help="first wait up to this many seconds for a quiet machine")
    ap.add_argument("--learn", action="store_true", help="also run the learning figures (minutes)")
    args = ap.parse_args()
    b = Bench(args)
    t0 = time.perf_counter()
    before = wait_until_quiet(args.max_busy, args.wait) if args.wait else others_now()
    res: dict[str, Any] = {
        "machine": {"python": platform.python_version(), "torch": torch.__version__, "device": str(b.device),
                    "gpu": torch.cuda.get_device_name(b.device) if b.device.type == "cuda" else None,
                    "amp": b.amp, "threads": torch.get_num_threads(), "cpus": os.cpu_count(),
                    "OMP_WAIT_POLICY": os.environ.get("OMP_WAIT_POLICY"), "before": before.as_dict(),
                    "max_busy_cores": args.max_busy},
    }
    ds = load_dataset("shapes", train_size=2048, val_size=64)
    res["trainer_vs_bare"] = [trainer_vs_bare(b, m, ds, steps, args.rounds, batch)
                              for m, batch, steps in map(parse_case, args.cases)]
    res["monitor_overhead"] = [monitor_overhead(b, "resnet56", ds, args.pairs, batch) for batch in (64, 128)]
    res["flops"] = [flops(b, case) for case in res["trainer_vs_bare"]]
    if b.device.type == "cuda":
        res["host_syncs"] = host_syncs(b, "resnet56", ds, 50, 128)
    if args.learn:
        res["learn"] = learn(b)
    res["machine"]["loadavg_end"] = [round(v, 2) for v in os.getloadavg()]
    res["wall_s"] = round(time.perf_counter() - t0, 1)
    print(json.dumps(res, indent=2))


if __name__ == "__main__":
    main()
