"""``textures``: a generated stand-in for CIFAR-10's learning curve, for the degradation experiment.

Why it exists: He et al. 2016 (sec. 4.2) show degradation on CIFAR-10, where training error falls gradually from
the first steps (a linear model on pixels already reaches about 40%), so a deeper plain net that optimises worse
ends *higher*, not stuck. On the built-in ``shapes`` every net first sits on a plateau at chance until it has
edge detectors; a plain-56 never leaves it in a CPU budget (exploration in bench/degradation_setup.md), which
tests nothing about degradation. ``textures`` keeps CIFAR's gradual curve:

- background: random noise with a 1/f amplitude spectrum, the spectrum of natural images (Field 1987), per
  channel, plus a random colour offset per image;
- class signal, two cues of different difficulty: a colour tint (class mean colour; alone it gives a linear model
  about 30% against CIFAR's 40%) and an oriented band of texture, 5 orientations x 2 spatial frequencies, whose
  sign and phase are random, so it needs convolution and a nonlinearity (energy), as natural-image features do.

Orientation is part of the class, so flips and crops are off (a flip mirrors the orientation).
The class constants (tints, orientations, frequencies) are fixed; the data seed draws the images.
"""

from __future__ import annotations

import numpy as np
import torch

from .core import DataError, Dataset, check_sizes, make_image_dataset, register

TEXTURE_CLASSES: tuple[str, ...] = tuple(f"{f} {a}°" for f in ("coarse", "fine") for a in (0, 36, 72, 108, 144))
_ORIENT = np.arange(5) * np.pi / 5  # radians, per class modulo 5
_FREQ = (0.18, 0.32)  # cycles per pixel: coarse (classes 0-4), fine (5-9)
_ORIENT_WIDTH, _FREQ_WIDTH = 0.2, 0.05  # band widths (radians, cycles per pixel)
_TINT = 1.0  # class tint amplitude against a unit random colour offset per image


def _class_tints() -> np.ndarray:
    return np.random.default_rng(12345).standard_normal((len(TEXTURE_CLASSES), 3))  # fixed: the task, not a seed


def render_textures(labels: np.ndarray, size: int, rng: np.random.Generator) -> np.ndarray:
    """Images (N, 3, size, size) float32 for the given labels (vectorised: FFT filtering of white noise)."""
    n = len(labels)
    fy = torch.fft.fftfreq(size)[:, None]
    fx = torch.fft.rfftfreq(size)[None, :]
    radius = torch.sqrt(fx ** 2 + fy ** 2)  # [S, S/2+1]
    angle = torch.atan2(fy, fx)
    noise = torch.from_numpy(rng.standard_normal((n, 4, size, size), dtype=np.float32))
    spec = torch.fft.rfft2(noise)  # [N, 4, S, S/2+1]: 3 background channels + 1 texture
    pink = 1.0 / torch.where(radius > 0, radius, torch.ones_like(radius))  # 1/f amplitude, DC kept at 1
    background = torch.fft.irfft2(spec[:, :3] * pink, s=(size, size))
    background /= background.std(dim=(2, 3), keepdim=True)
    lab = torch.from_numpy(np.asarray(labels, dtype=np.int64))
    theta = torch.from_numpy(_ORIENT).float()[lab % 5][:, None, None]  # [N, 1, 1]
    freq = torch.tensor(_FREQ)[lab // 5][:, None, None]
    # orientation distance on the half circle (an orientation and its opposite are one)
    d = torch.remainder(angle[None] - theta + torch.pi / 2, torch.pi) - torch.pi / 2
    band = torch.exp(-(d / _ORIENT_WIDTH) ** 2 - ((radius[None] - freq) / _FREQ_WIDTH) ** 2)  # [N, S, S/2+1]
    texture = torch.fft.irfft2(spec[:, 3] * band, s=(size, size))[:, None]  # [N, 1, S, S]
    texture /= texture.std(dim=(2, 3), keepdim=True).clamp_min(1e-8)
    gain = torch.from_numpy(rng.uniform(0.5, 1.0, (n, 3, 1, 1)).astype(np.float32))  # texture colour per image
    offset = _TINT * _class_tints()[labels] + rng.standard_normal((n, 3))  # class tint + random colour
    images = background + texture * gain + torch.from_numpy(offset.astype(np.float32))[:, :, None, None]
    return images.numpy()


@register("textures")
def load_textures(*, seed: int = 0, train_size: int = 10000, val_size: int = 2000, size: int = 16) -> Dataset:
    """10 classes of oriented textures on 1/f backgrounds, 3 x size x size, standardised per channel."""
    check_sizes("textures", train_size=train_size, val_size=val_size, size=size)
    if size < 8:
        raise DataError(f"dataset 'textures': size must be at least 8 to hold the texture bands, got {size}")
    k = len(TEXTURE_CLASSES)
    rng_t, rng_v = np.random.default_rng([seed, 6]), np.random.default_rng([seed, 7])
    y_t = rng_t.permutation(np.arange(train_size) % k).astype(np.int64)
    y_v = rng_v.permutation(np.arange(val_size) % k).astype(np.int64)
    x_t, x_v = render_textures(y_t, size, rng_t), render_textures(y_v, size, rng_v)
    return make_image_dataset("textures", x_t, y_t, x_v, y_v, num_classes=k, augment=False, classes=TEXTURE_CLASSES)
