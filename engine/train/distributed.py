"""Data-parallel training on PyTorch's own distributed engine: ``torchrun`` + DistributedDataParallel.

    torchrun --standalone --nproc_per_node=4 -m engine train resnet56 --dataset cifar10 --batch-size 128

torchrun starts one process per GPU (or per CPU worker) and sets ``RANK``, ``WORLD_SIZE`` and
``LOCAL_RANK``; `init_from_env` reads them and joins the process group: NCCL on CUDA (device
``cuda:LOCAL_RANK``), gloo on the CPU. What the user asked for stays what the run does:

- The global batch is ``batch_size``; every rank draws the same global batch (one generator seeded
  with the run's seed, as in a single-process run) and keeps its contiguous slice of
  ``batch_size / world_size`` samples: a DistributedSampler over each batch, deterministic, so a
  DDP run sees exactly the samples, in the order, of the single-process run with the same seed.
  A batch that does not divide by the world size is refused.
- The learning rate is not scaled: DDP averages the gradients, so each update is the update of the
  global batch (Goyal et al. 2017's linear scaling rule is the user's choice, not ours).
- BatchNorm uses the statistics of the global batch (``sync_bn``, default on): torch's SyncBatchNorm
  on CUDA; on the CPU, where SyncBatchNorm refuses to run (it supports GPU/XPU/HPU inputs only),
  `CpuSyncBatchNorm`, which all-reduces the per-channel sums with an autograd-aware collective.
  With ``sync_bn: false`` each rank normalises with its own slice, as plain DDP does; the run is then
  no longer the single-process run (and rank 0's running statistics are broadcast each step).
- Gradient statistics are read after DDP's all-reduce, so every rank computes the same per-layer
  numbers; the loss and metric counts are all-reduced; activation moments are merged over ranks.
  Rank 0 alone writes to the store and prints progress, so the dashboard shows one run.

Dropout masks come from each rank's own generator, so a net with dropout is not bit-for-bit the
single-process run; everything else is, up to the order of floating-point sums.
"""

from __future__ import annotations

import datetime
import inspect
import logging
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm

from engine.core.errors import SpecError
from engine.ir.graph import INPUT, Graph

log = logging.getLogger(__name__)

ENV_KEYS = ("RANK", "WORLD_SIZE", "LOCAL_RANK")


@dataclass(frozen=True)
class DistContext:
    """This process's place in the process group."""

    rank: int
    world_size: int
    local_rank: int
    device: torch.device
    backend: str

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def shard(self, t: torch.Tensor) -> torch.Tensor:
        """This rank's contiguous slice of a global batch (whose length divides by the world size)."""
        per = len(t) // self.world_size
        return t[self.rank * per:(self.rank + 1) * per]

    def span(self, n: int) -> tuple[int, int]:
        """[start, stop) of this rank's share of ``n`` items (validation: the last shares may be shorter)."""
        per = -(-n // self.world_size)
        return min(n, self.rank * per), min(n, (self.rank + 1) * per)

    def sum(self, t: torch.Tensor) -> torch.Tensor:
        """Sum over ranks (a new tensor; not differentiable)."""
        out = t.clone()
        dist.all_reduce(out)
        return out

    def mean(self, t: torch.Tensor) -> torch.Tensor:
        return self.sum(t) / self.world_size


def env_world() -> tuple[int, int, int] | None:
    """(rank, world size, local rank) when launched by torchrun (or any launcher setting the same
    variables), else None."""
    if not all(k in os.environ for k in ENV_KEYS):
        return None
    try:
        rank, world, local = (int(os.environ[k]) for k in ENV_KEYS)
    except ValueError:
        raise SpecError("environment", "RANK, WORLD_SIZE and LOCAL_RANK must be integers (torchrun sets "
                        f"them); got {', '.join(f'{k}={os.environ[k]!r}' for k in ENV_KEYS)}") from None
    return rank, world, local


def check_batch(batch_size: int, world_size: int) -> None:
    if batch_size % world_size:
        lo = batch_size - batch_size % world_size
        raise SpecError("config.batch_size", f"the global batch of {batch_size} does not divide evenly over "
                        f"{world_size} processes (each rank takes batch_size / world_size samples); use a "
                        f"multiple of {world_size}, e.g. {lo or world_size} or {lo + world_size}")


def pick_device(device: str, local_rank: int) -> tuple[torch.device, str]:
    """The rank's device and the collective backend that goes with it: NCCL on CUDA, gloo on the CPU."""
    from engine.build import resolve_device

    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"  # MPS has no collective backend
    dev = resolve_device(device)
    if dev.type == "cuda":
        if local_rank >= torch.cuda.device_count():
            raise SpecError("config.device", f"LOCAL_RANK {local_rank} has no GPU: this node has "
                            f"{torch.cuda.device_count()}; start at most that many processes per node "
                            "(--nproc_per_node)")
        return torch.device("cuda", local_rank), "nccl"
    if dev.type == "cpu":
        return dev, "gloo"
    raise SpecError("config.device", f"distributed training runs on cuda (NCCL) or cpu (gloo), not "
                    f"{dev.type}; set device: cuda, cpu or auto")


_CURRENT: DistContext | None = None


def init_from_env(device: str, batch_size: int, *, timeout_s: float = 600.0) -> DistContext | None:
    """Join the process group torchrun described, or return None for a single-process run.

    A world of one (``--nproc_per_node=1``) is a single-process run: no process group, no DDP.
    """
    global _CURRENT
    found = env_world()
    if found is None or found[1] <= 1:
        return None
    rank, world, local = found
    check_batch(batch_size, world)
    dev, backend = pick_device(device, local)
    if dev.type == "cuda":
        torch.cuda.set_device(dev)
    if not dist.is_initialized():
        kwargs: dict[str, Any] = {"device_id": dev} if backend == "nccl" else {}
        dist.init_process_group(backend, timeout=datetime.timedelta(seconds=timeout_s), **kwargs)
    _CURRENT = DistContext(dist.get_rank(), dist.get_world_size(), local, dev, backend)
    log.info("rank %d of %d on %s (%s)", rank, world, dev, backend)
    return _CURRENT


def current() -> DistContext | None:
    """The context `init_from_env` set up in this process, while its process group lives."""
    return _CURRENT if _CURRENT is not None and dist.is_available() and dist.is_initialized() else None


def shutdown() -> None:
    global _CURRENT
    _CURRENT = None
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


@contextmanager
def session(device: str, batch_size: int) -> Iterator[DistContext | None]:
    """`init_from_env` ... `shutdown` (the process group is left even when training raises)."""
    ctx = init_from_env(device, batch_size)
    try:
        yield ctx
    finally:
        if ctx is not None:
            shutdown()


# ---- the model -----------------------------------------------------------------------------------


class _AllReduceSum(torch.autograd.Function):
    """Sum over ranks whose backward sums the gradients over ranks too (what SyncBatchNorm does; torch's
    own ``torch.distributed.nn.functional.all_reduce`` is deprecated in 2.13)."""

    @staticmethod
    def forward(ctx: Any, t: torch.Tensor) -> torch.Tensor:
        out = t.clone()
        dist.all_reduce(out)
        return out

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> torch.Tensor:
        out = grad.contiguous().clone()
        dist.all_reduce(out)
        return out



class CpuSyncBatchNorm(_BatchNorm):
    """BatchNorm over the global batch for gloo (CPU) process groups, where torch's SyncBatchNorm refuses
    to run. Per-channel sum, sum of squares and count are all-reduced with an autograd-aware collective,
    so the backward pass also sums over ranks (as SyncBatchNorm does, Ioffe & Szegedy 2015 eq. over the
    whole mini-batch). Sums are taken in float64: E[x^2] - E[x]^2 in float32 would lose the digits the
    equivalence with a single-process run needs. Eval mode, or no process group: plain BatchNorm.
    """

    def _check_input_dim(self, x: torch.Tensor) -> None:
        if x.dim() < 2:
            raise ValueError(f"expected at least 2D input (got {x.dim()}D input)")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self._check_input_dim(x)
        if not (self.training and dist.is_initialized() and dist.get_world_size() > 1):
            return super().forward(x)
        c = x.shape[1]
        dims = [0, *range(2, x.dim())]
        xd = x.double()
        count = torch.full((1,), float(x.numel() // c), dtype=torch.float64, device=x.device)
        total = _AllReduceSum.apply(torch.cat([xd.sum(dims), xd.square().sum(dims), count]))
        n = total[-1]
        mean = total[:c] / n
        var = (total[c:2 * c] / n - mean.square()).clamp_min(0)
        if self.track_running_stats and self.running_mean is not None and self.running_var is not None:
            with torch.no_grad():
                assert self.num_batches_tracked is not None
                self.num_batches_tracked.add_(1)
                m = 1.0 / float(self.num_batches_tracked) if self.momentum is None else self.momentum
                unbiased = var * n / (n - 1).clamp_min(1)
                self.running_mean.mul_(1 - m).add_(mean.to(self.running_mean.dtype), alpha=m)
                self.running_var.mul_(1 - m).add_(unbiased.to(self.running_var.dtype), alpha=m)
        shape = [1, c] + [1] * (x.dim() - 2)
        y = (x - mean.to(x.dtype).view(shape)) * torch.rsqrt(var + self.eps).to(x.dtype).view(shape)
        if self.affine:
            y = y * self.weight.view(shape) + self.bias.view(shape)
        return y


def convert_cpu_sync_batchnorm(module: nn.Module) -> nn.Module:
    """Like ``nn.SyncBatchNorm.convert_sync_batchnorm``: BatchNorm layers become `CpuSyncBatchNorm`,
    keeping the same Parameter objects and buffers (so state_dict keys and the monitor's parameter
    lists are unchanged)."""
    out = module
    if isinstance(module, _BatchNorm) and not isinstance(module, CpuSyncBatchNorm):
        out = CpuSyncBatchNorm(module.num_features, module.eps, module.momentum, module.affine,
                               module.track_running_stats, device=module.running_mean.device
                               if module.running_mean is not None else None)
        if module.affine:
            out.weight, out.bias = module.weight, module.bias
        out.running_mean, out.running_var = module.running_mean, module.running_var
        out.num_batches_tracked = module.num_batches_tracked
        out.train(module.training)
    for name, child in module.named_children():
        out.add_module(name, convert_cpu_sync_batchnorm(child))
    return out


def _has_unused_parameters(graph: Graph, model: nn.Module) -> bool:
    """True when a parametrised node does not feed the output (DDP must then look for unused params)."""
    reach, todo = set(), [graph.output]
    while todo:
        name = todo.pop()
        if name in reach or name == INPUT:
            continue
        reach.add(name)
        todo.extend(graph.nodes[name].inputs if name in graph.nodes else [])
    for node in graph.compute_nodes():
        if node.name in reach:
            continue
        try:
            if any(p.requires_grad for p in model.get_submodule(node.name).parameters()):
                return True
        except AttributeError:
            continue
    return False


def wrap_model(model: nn.Module, graph: Graph, ctx: DistContext, sync_bn: bool) -> nn.Module:
    """Sync BatchNorm (in place: ``model`` keeps its submodule names) and wrap in DDP; returns the DDP
    module to run the forward pass through. Hooks and the monitor keep using ``model``."""
    from torch.nn.parallel import DistributedDataParallel as DDP

    if sync_bn:
        convert = nn.SyncBatchNorm.convert_sync_batchnorm if ctx.device.type == "cuda" \
            else convert_cpu_sync_batchnorm
        # the root is a GraphModule, never a BatchNorm, so the conversion replaces children in place
        if convert(model) is not model:
            raise TypeError("wrap_model expects a container module, not a bare BatchNorm layer")
    ids = [ctx.device.index] if ctx.device.type == "cuda" else None
    # Buffer sync before each forward: with per-rank BN, rank 0's running statistics win (DDP's default);
    # with synced BN they are already identical and the broadcast would be a wasted collective.
    # torch 2.13 renamed broadcast_buffers to forward_sync_buffers (both still sync once at init).
    params = inspect.signature(DDP.__init__).parameters
    sync_key = "forward_sync_buffers" if "forward_sync_buffers" in params else "broadcast_buffers"
    return DDP(model, device_ids=ids, find_unused_parameters=_has_unused_parameters(graph, model),
               **{sync_key: not sync_bn})


# ---- agreement between ranks --------------------------------------------------------------------


class StopAgreement:
    """A cancel flag every rank honours at the same step (a rank that stopped alone would leave the
    others waiting in a collective). Ranks compare flags every ``every`` calls: each comparison is a
    host sync, so on a GPU it follows the loop's ``flush_every``. A local stop is sticky."""

    def __init__(self, ctx: DistContext, local: Callable[[], bool] | None, every: int) -> None:
        self.ctx, self.local, self.every = ctx, local, max(1, every)
        self.calls = 0
        self.seen = False

    def __call__(self) -> bool:
        self.calls += 1
        self.seen = self.seen or bool(self.local is not None and self.local())
        if self.calls % self.every:
            return False
        flag = torch.tensor([1.0 if self.seen else 0.0], device=self.ctx.device)
        dist.all_reduce(flag, op=dist.ReduceOp.MAX)
        return bool(flag.item() > 0)


def merge_activation_row(ctx: DistContext, row: torch.Tensor) -> torch.Tensor:
    """[mean, std, zero_frac] x layers of one rank's slice -> those of the global batch (equal slices:
    the global mean is the mean of means, E[x^2] likewise; NaN marks a layer without the statistic)."""
    r = row.double()
    moments = torch.stack([r[0], r[1].square() + r[0].square(), r[2]])
    merged = ctx.mean(moments)
    std = (merged[1] - merged[0].square()).clamp_min(0).sqrt()
    return torch.stack([merged[0], std, merged[2]]).to(row.dtype)
