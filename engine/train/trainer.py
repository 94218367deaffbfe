"""The training loop, as a generator of events.

    for event in train("resnet20", {"dataset": "shapes", "steps": 400}):
        ...  # Started, Metrics, LayerStats, Alert ..., Done

The loop never prints and never touches the store: the CLI draws a progress bar from the events, the
job runner writes them to the store (engine.train.record). Steps are numbered from 1 (step s = after
the s-th optimizer update). On a GPU nothing is copied to the host between flushes (`flush_every`).
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import math
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch

from engine.arch import SpecLike, expand
from engine.build import build, resolve_device
from engine.core.errors import SpecError
from engine.ir.graph import infer_shapes
from engine.store.weights import write_new
from engine.train import distributed, transfer
from engine.train.budget import check_training, dataset_bytes, estimate_training
from engine.train.config import TrainConfig, check_device, parse_config
from engine.train.events import Alert, Done, Event, Histograms, LayerStats, Metrics, Started
from engine.train.health import HealthMonitor, locate_divergence
from engine.train.histograms import HIST_HI, HIST_LO, LayerHistograms, hist_interval
from engine.train.monitor import ActivationProbe, GradientMonitor, find_layers
from engine.train.optim import lr_at, make_optimizer, set_lr
from engine.train.probes import make_probe_runner
from engine.train.samples import SampleKeeper
from engine.train.tasks import Task, task_for

log = logging.getLogger(__name__)


def load_data(cfg: TrainConfig) -> Any:
    from engine.data import load_dataset

    # The data's own seed is a dataset option (default 0): changing the run seed changes the
    # initialisation and batch order, not the data set itself.
    return load_dataset(cfg.dataset, **cfg.dataset_options)


def sync_interval(device: torch.device, cfg: TrainConfig) -> int:
    """Steps between host syncs: every step on the CPU (a check costs nothing there), else `flush_every`."""
    return 1 if device.type == "cpu" else cfg.flush_every


def prepare(spec: SpecLike, config: TrainConfig | dict[str, Any] | None = None) -> Any:
    """Load the config's dataset and check that the spec fits it; raises before any run is recorded."""
    cfg = parse_config(config)
    graph = expand(spec)
    check_device(cfg, resolve_device(cfg.device).type)
    check_training(graph, cfg, resolve_device(cfg.device))  # engine.core.limits: before the data is loaded
    data = load_data(cfg)
    task_for(graph, data.info, infer_shapes(graph)[graph.output])
    return data


def _autocast(device: torch.device, amp: str) -> contextlib.AbstractContextManager:
    if amp == "off":
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=torch.bfloat16 if amp == "bf16" else torch.float16)


class _Loop:
    """State of one run; `train` drives it."""

    def __init__(self, spec: SpecLike, cfg: TrainConfig, dataset: Any | None,
                 init_file: str | Path | None = None) -> None:
        self.cfg = cfg
        self.dist = distributed.current()  # set by `torchrun ... -m engine train` (engine.train.distributed)
        self.device = resolve_device(cfg.device) if self.dist is None else self.dist.device
        check_device(cfg, self.device.type)
        self.graph = expand(spec)
        # engine.core.limits: the model at this batch and the data set must fit, checked before either is allocated
        # and again on the loaded tensors' exact size
        est = check_training(self.graph, cfg, self.device) if dataset is None else estimate_training(self.graph, cfg)
        self.data = dataset if dataset is not None else load_data(cfg)
        est.check(self.device, dataset_bytes(self.data), f" {self.data.info.name!r}")
        self.task: Task = task_for(self.graph, self.data.info, infer_shapes(self.graph)[self.graph.output])
        self.augment = bool(self.data.augment if cfg.augment is None else cfg.augment)
        if self.augment and (self.task.kind != "classification" or self.data.x_train.ndim != 4):
            raise SpecError("config.augment", f"random crop + flip needs a classification set of images; "
                            f"dataset {self.data.info.name!r} is {self.data.info.task} with inputs "
                            f"{list(self.data.info.input_shape)}; set augment: false")
        torch.manual_seed(cfg.seed)  # dropout and anything else drawing from the global generator
        self.model = build(self.graph, self.device, seed=cfg.seed)
        # engine.train.transfer: load init_from, freeze; None for a run from scratch
        self.init = transfer.initialise(self.model, cfg, init_file)
        self.train_mode()
        # the forward pass goes through DDP when distributed; hooks, monitor and weights use the bare model
        self.net = self.model if self.dist is None else distributed.wrap_model(self.model, self.graph, self.dist,
                                                                               cfg.sync_bn)
        self.layers, self.layer_params = find_layers(self.graph, self.model)
        self.monitor = GradientMonitor(self.layers, self.layer_params, self.device)
        self.probe = ActivationProbe(self.graph, self.model, self.layers, self.device)
        self.hists = LayerHistograms(self.layer_params, self.device)
        self.hist_every = hist_interval(cfg.steps, cfg.log_every, cfg.hist_every)
        self.samples = SampleKeeper(self.task.kind, cfg.steps)
        self.opt = make_optimizer(self.model, cfg, self.init.loaded_params if self.init else None)
        self.scaler = torch.amp.GradScaler("cuda") if cfg.amp == "fp16" else None
        self.params = [p for p in self.model.parameters() if p.requires_grad]
        d = self.device
        self.x_train, self.y_train = self.data.x_train.to(d), self.data.y_train.to(d)
        self.x_val, self.y_val = self.data.x_val.to(d), self.data.y_val.to(d)
        self.gen = torch.Generator().manual_seed(cfg.seed)  # batch order + augmentation: reproducible
        self.sync_every = sync_interval(d, cfg)
        self._rows: list[tuple[int, float, torch.Tensor]] = []  # (step, lr, [loss, metric, grad_norm])
        self._flags: list[tuple[int, torch.Tensor]] = []
        self._acc = torch.zeros(4, dtype=torch.float64, device=d)  # loss sum, metric num, metric den, n
        self.last: dict[str, float] = {}
        self.best_val = -math.inf
        self.loss_limit: torch.Tensor | None = None  # diverge_factor x the first loss, on the device
        self.layer_gn: torch.Tensor | None = None
        self.init_weight_norms = _weight_norms(self.layer_params)  # for the divergence diagnosis
        self.health = HealthMonitor(self.layers, cfg, self.init_weight_norms)

    def train_mode(self) -> None:
        self.model.train()
        transfer.hold_frozen(self.model, self.init)  # frozen BatchNorms keep the checkpoint's statistics

    def batches(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        from engine.data import batches

        drop = len(self.x_train) >= self.cfg.batch_size
        while True:
            yield from batches(self.x_train, self.y_train, self.cfg.batch_size, shuffle=True, generator=self.gen,
                               drop_last=drop)

    def started(self) -> Started:
        info = dataclasses.asdict(self.data.info) if dataclasses.is_dataclass(self.data.info) else {}
        return Started(self.layers, str(self.device), self.cfg.steps, sum(p.numel() for p in self.params),
                       info, self.task.kind, self.init.record() if self.init else None)

    def forward_loss(self, x: torch.Tensor, y: torch.Tensor,
                     net: torch.nn.Module | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        with _autocast(self.device, self.cfg.amp):
            out = (net or self.net)(x)
            loss = self.task.loss(out.float() if self.cfg.amp != "off" else out, y)
        return out, loss

    def step(self, step: int, x: torch.Tensor, y: torch.Tensor, logged: bool, act: bool,
             hist: bool = False) -> torch.Tensor:
        """One optimizer update; returns a device bool that is True when the step went non-finite."""
        cfg = self.cfg
        lr = lr_at(cfg, step - 1)
        set_lr(self.opt, lr)
        probe = self.probe.capture(step) if act else contextlib.nullcontext()
        with probe:
            out, loss = self.forward_loss(x, y)
        if act and self.dist is not None:
            self.probe._rows[-1] = (step, distributed.merge_activation_row(self.dist, self.probe._rows[-1][1]))
        self.opt.zero_grad(set_to_none=True)
        (self.scaler.scale(loss) if self.scaler else loss).backward()
        if self.scaler:
            self.scaler.unscale_(self.opt)
        layer_gn = self.monitor.grad_norms()
        self.layer_gn = layer_gn
        total = layer_gn.square().sum().sqrt()
        lv = loss.detach() if self.dist is None else self.dist.mean(loss.detach())  # ranks stop together
        bad = ~torch.isfinite(lv)
        if self.scaler is None:  # with fp16 loss scaling an inf gradient is routine: the scaler skips it
            bad = bad | ~torch.isfinite(total)
        if cfg.diverge_factor:
            if self.loss_limit is None:
                self.loss_limit = lv.float().clamp_min(1.0) * cfg.diverge_factor
            else:
                bad = bad | (lv > self.loss_limit)
        if self.sync_every == 1 and bool(bad):
            return bad  # on the CPU a check is free: stop before the update, so the diagnosis sees this step
        if logged:  # the recorded gradient is what backprop produced, before clipping changes it
            grad_stats = self.monitor.gradient_stats(layer_gn)
            self.monitor.snapshot()
            if hist:
                self.hists.gradients()
        if cfg.grad_clip:
            torch.nn.utils.clip_grads_with_norm_(self.params, cfg.grad_clip, total.float())
        if self.scaler:
            self.scaler.step(self.opt)
            self.scaler.update()
        else:
            self.opt.step()
        num, den = self.task.counts(out.detach(), y)
        self._acc += torch.stack([loss.detach().double(), num.double(), den.double(), torch.ones((), device=self.device,
                                                                                                  dtype=torch.float64)])
        if logged:
            if hist:
                self.hists.weights_and_updates(self.monitor.weights_before)
                self.hists.record(step)
            self.monitor.record(step, grad_stats)
            a = self._acc if self.dist is None else self.dist.sum(self._acc)
            self._rows.append((step, lr, torch.stack([a[0] / a[3], a[1] / a[2].clamp_min(1), total])))
            self._acc = torch.zeros_like(self._acc)
        return bad

    def flush(self, elapsed: float, steps_done: int) -> list[Event]:
        """Copy the buffered rows to the host (one transfer each) and turn them into events."""
        events: list[Event] = []
        if self._rows:
            vals = torch.stack([r for _, _, r in self._rows]).cpu().tolist()
            it_s = steps_done / elapsed if elapsed > 0 else 0.0
            for (step, lr, _), (loss, metric, gn) in zip(self._rows, vals, strict=True):
                m = {"loss": loss, self.task.metric: metric, "lr": lr, "grad_norm": gn, "it_s": it_s}
                events.append(Metrics(step, m))
                self.last.update(m)
            self._rows.clear()
        steps, stats = self.monitor.flush()
        if steps:
            events.append(LayerStats(steps, stats))
            events.extend(self.health.check(steps, stats))
        act_steps, act = self.probe.flush()
        if act_steps:
            events.append(LayerStats(act_steps, act))
        hist_steps, hists = self.hists.flush()
        if hist_steps and hists:
            events.append(Histograms(hist_steps, hists, HIST_LO, HIST_HI))
        return events

    def discard_after(self, step: int) -> None:
        """Drop buffered rows of steps after a divergence found late (GPU: checks every few steps)."""
        self._rows = [r for r in self._rows if r[0] <= step]
        self.monitor._rows = [r for r in self.monitor._rows if r[0] <= step]
        self.probe._rows = [r for r in self.probe._rows if r[0] <= step]
        self.hists.discard_after(step)

    def first_bad(self, force: bool) -> int | None:
        """Step of the first non-finite flag, checking every `sync_every` steps (each check is a host sync)."""
        if not self._flags or (len(self._flags) < self.sync_every and not force):
            return None
        flags = torch.stack([f for _, f in self._flags]).cpu()
        steps = [s for s, _ in self._flags]
        self._flags.clear()
        hit = torch.nonzero(flags).flatten()
        return steps[int(hit[0])] if len(hit) else None

    @torch.no_grad()
    def validate(self) -> dict[str, float]:
        self.model.eval()
        sums = torch.zeros(3, dtype=torch.float64, device=self.device)
        lo, hi = (0, len(self.x_val)) if self.dist is None else self.dist.span(len(self.x_val))
        bs = self.cfg.val_batch_size
        try:
            for i in range(lo, hi, bs):
                x, y = self.x_val[i:min(i + bs, hi)], self.y_val[i:min(i + bs, hi)]
                out, loss = self.forward_loss(x, y, self.model)  # not DDP: ranks may run different counts
                if i == 0:
                    self.samples.capture(x, y, out)
                num, den = self.task.counts(out, y)
                sums += torch.stack([loss.double() * len(x), num.double(), den.double()])
        finally:
            self.train_mode()
        loss, num, den = (sums if self.dist is None else self.dist.sum(sums)).cpu().tolist()
        res = {"val_loss": loss / max(1, len(self.x_val)), f"val_{self.task.metric}": num / max(den, 1.0)}
        self.best_val = max(self.best_val, res[f"val_{self.task.metric}"])
        self.last.update(res)
        return res


def train(spec: SpecLike, config: TrainConfig | dict[str, Any] | None = None, *,
          should_stop: Callable[[], bool] | None = None, weights_path: str | Path | None = None,
          dataset: Any | None = None, init_file: str | Path | None = None) -> Iterator[Event]:
    """Train ``spec`` under ``config``, yielding events; the last one is always `Done`.

    ``should_stop`` is polled once per step (a cancel flag); ``dataset`` overrides ``config.dataset``
    (an `engine.data.Dataset`, for tests and notebooks); ``init_file`` is the weights file of a
    ``init_from: run:ID`` (resolved through the store by engine.train.record). Setup errors (a spec
    that does not fit the data, a bad option) raise before the first event.
    """
    cfg = parse_config(config)
    run = _Loop(spec, cfg, dataset, init_file)
    init_weights = _save_init(run, weights_path)
    if run.dist is not None:
        should_stop = distributed.StopAgreement(run.dist, should_stop, run.sync_every)
    yield run.started()
    log.info("training %s on %s for %d steps on %s", run.graph.name or run.graph.family, run.data.info.name,
             cfg.steps, run.device)
    t0, cpu0 = time.perf_counter(), time.process_time()
    batches = run.batches()
    status, error, step = "done", None, 0
    last_x: tuple[torch.Tensor, torch.Tensor] | None = None
    flushed = 0
    probe = make_probe_runner(cfg.probes, run.graph, run.model, run.task, run.x_train, run.y_train)
    for step in range(1, cfg.steps + 1):
        if should_stop is not None and should_stop():
            status, step = "cancelled", step - 1
            break
        if probe is not None and (step - 1) % cfg.probe_every == 0:  # the weights after step - 1 updates
            yield Metrics(step - 1, probe())
        x, y = next(batches)
        if run.augment:
            x = _augment(x, run.gen)
        if run.dist is not None:  # every rank drew the same global batch; each keeps its slice
            x, y = run.dist.shard(x), run.dist.shard(y)
        last_x = (x, y)
        final = step == cfg.steps
        logged = step == 1 or step % cfg.log_every == 0 or final
        act = cfg.act_every > 0 and (step == 1 or step % cfg.act_every == 0)
        hist = run.hist_every > 0 and (step == 1 or step % run.hist_every == 0 or final)
        logged = logged or hist  # a histogram step is a logged step: it needs the monitor's weight snapshot
        run._flags.append((step, run.step(step, x, y, logged, act, hist)))
        bad = run.first_bad(force=final)
        if bad is not None:
            status, step = "diverged", bad
            run.discard_after(bad)
            break
        if logged and (step - flushed >= run.sync_every or final):
            yield from run.flush(time.perf_counter() - t0, step)
            flushed = step
        if cfg.val_every and step % cfg.val_every == 0 and not final:
            yield Metrics(step, run.validate())
            yield from run.samples.events(step)
    wall = time.perf_counter() - t0
    yield from run.flush(wall, step)
    if status == "diverged":
        layer, error = _diagnose(run, last_x, step)
        yield Alert(step, "diverged", layer, error)
    elif step > 0:
        if probe is not None:  # the in-loop probes reached step - 1 at most
            yield Metrics(step, probe())
        yield Metrics(step, run.validate())
        yield from run.samples.events(step, final=True)
    weights = None
    if weights_path is not None and cfg.save_weights and status != "diverged":
        state = {k: v.detach().cpu() for k, v in run.model.state_dict().items()}
        weights = str(write_new(weights_path, lambda f: torch.save(state, f)))  # never over an existing file
    summary = {k: v for k, v in run.last.items() if isinstance(v, float) and math.isfinite(v)}
    # cpu_s: this process's CPU seconds for the loop, a machine's load does not inflate it (bench/experiments.py)
    summary.update({"steps": float(step), "wall_s": wall, "cpu_s": time.process_time() - cpu0,
                    "it_s": step / wall if wall > 0 else 0.0})
    if init_weights is not None:
        summary["init_weights_path"] = init_weights
    if run.best_val > -math.inf:
        summary[f"best_val_{run.task.metric}"] = run.best_val
    log.info("run %s after %d steps in %.1fs", status, step, wall)
    yield Done(status, step, summary, weights, error, wall)


def init_weights_path(weights_path: str | Path) -> Path:
    """Where the weights before the first update go, beside the final ones: ``run-7.pt`` -> ``run-7.init.pt``."""
    path = Path(weights_path)
    return path.with_name(f"{path.stem}.init{path.suffix}")


def _save_init(run: _Loop, weights_path: str | Path | None) -> str | None:
    """Save the initial weights (a state_dict), so a run's loss landscape can follow the straight line from its
    initial to its final weights (Goodfellow et al. 2015; Li et al. 2018, sec. 3) after the run has ended."""
    if weights_path is None or not run.cfg.save_weights:
        return None
    state = {k: v.detach().cpu() for k, v in run.model.state_dict().items()}
    return str(write_new(init_weights_path(weights_path), lambda f: torch.save(state, f)))  # never over a file


@torch.no_grad()
def _weight_norms(layer_params: list[list[torch.nn.Parameter]]) -> np.ndarray:
    return np.array([math.sqrt(sum(float(p.detach().double().square().sum()) for p in ps)) for ps in layer_params])


def _diagnose(run: _Loop, batch: tuple[torch.Tensor, torch.Tensor] | None, step: int) -> tuple[str | None, str]:
    assert batch is not None
    with torch.no_grad():
        loss = float(run.forward_loss(*batch)[1])
    limit = float(run.loss_limit) if run.loss_limit is not None else None
    gn = run.layer_gn.cpu().numpy() if run.layer_gn is not None else np.zeros(len(run.layers))
    return locate_divergence(run.layers, run.layer_params, run.model, lambda: run.forward_loss(*batch), step=step,
                             loss=loss, limit=limit, grad_norms=gn, init_weight_norms=run.init_weight_norms)


def _augment(x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    from engine.data import augment_batch

    return augment_batch(x, gen)

