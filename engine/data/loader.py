"""Mini-batching and augmentation on in-memory tensors.

A DataLoader with workers is overkill for data that already sits in a tensor, and its order depends
on worker scheduling; here every random choice comes from one ``torch.Generator`` so a run is
reproducible from its seed.
"""

from __future__ import annotations

from collections.abc import Iterator

import torch


def batches(
    x: torch.Tensor,
    y: torch.Tensor,
    batch_size: int,
    *,
    shuffle: bool = True,
    generator: torch.Generator | None = None,
    drop_last: bool = False,
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Yield ``(x, y)`` batches; the order is a permutation drawn from ``generator`` when shuffling.

    Without a generator a fresh one seeded with 0 is used, so even that case is deterministic.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be positive, got {batch_size}")
    if len(x) != len(y):
        raise ValueError(f"x has {len(x)} samples but y has {len(y)}")
    n = len(x)
    if shuffle:
        gen = generator if generator is not None else torch.Generator().manual_seed(0)
        order = torch.randperm(n, generator=gen).to(x.device, non_blocking=True)
    else:
        order = None
    stop = n - n % batch_size if drop_last else n
    for start in range(0, stop, batch_size):
        if order is None:
            yield x[start:start + batch_size], y[start:start + batch_size]
        else:
            idx = order[start:start + batch_size]
            yield x[idx], y[idx]


def augment_batch(
    x: torch.Tensor, generator: torch.Generator | None = None, *, pad: int = 4, flip: bool = True
) -> torch.Tensor:
    """Random crop after zero padding by ``pad`` plus a random horizontal flip, for (N, C, H, W) images.

    The standard CIFAR recipe (He et al. 2016, sec. 4.2). Zero padding is the dataset mean because
    the images are already standardised. Done as one gather, no Python loop over samples.
    """
    if x.ndim != 4:
        raise ValueError(f"augment_batch expects images [N, C, H, W], got {list(x.shape)}")
    n, _, h, w = x.shape
    gen = generator if generator is not None else torch.Generator().manual_seed(0)
    # draw on the CPU generator, then move: generators are device-bound. non_blocking: a copy from
    # pageable memory with cudaMemcpyAsync does not wait for the GPU, so training never syncs per step
    oy = torch.randint(0, 2 * pad + 1, (n,), generator=gen).to(x.device, non_blocking=True)
    ox = torch.randint(0, 2 * pad + 1, (n,), generator=gen).to(x.device, non_blocking=True)
    flips = (torch.rand(n, generator=gen) < 0.5).to(x.device, non_blocking=True) if flip else torch.zeros(
        n, dtype=torch.bool, device=x.device)
    padded = torch.nn.functional.pad(x, (pad, pad, pad, pad))  # (N, C, H+2p, W+2p)
    ar_h = torch.arange(h, device=x.device)
    ar_w = torch.arange(w, device=x.device)
    rows = oy[:, None] + ar_h[None, :]  # (N, H)
    cols = torch.where(flips[:, None], ox[:, None] + (w - 1 - ar_w)[None, :], ox[:, None] + ar_w[None, :])
    batch_idx = torch.arange(n, device=x.device)[:, None, None]
    out = padded.permute(0, 2, 3, 1)[batch_idx, rows[:, :, None], cols[:, None, :]]  # (N, H, W, C)
    return out.permute(0, 3, 1, 2).contiguous()
