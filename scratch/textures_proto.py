"""Prototype of a natural-image-like generated classification set (exploration): class = a colour tint (a cue a
linear model partly reads) + an oriented texture band of a class-specific orientation and frequency (a cue that
needs convolution and a nonlinearity), on a 1/f random background (the spectrum of natural images). Reports a
linear probe's validation accuracy (CIFAR-10: about 40% for logistic regression on pixels)."""
import sys
import time

import numpy as np

sys.path.insert(0, ".")


def make(n, size, rng, tint=0.25, tex_amp=1.0, k=10):
    y = rng.permutation(np.arange(n) % k)
    fy, fx = np.fft.fftfreq(size)[:, None], np.fft.fftfreq(size)[None, :]
    r = np.sqrt(fx ** 2 + fy ** 2)
    r0 = r.copy()
    r0[0, 0] = 1.0
    ang = np.arctan2(fy, fx)
    bg = np.fft.ifft2(np.fft.fft2(rng.standard_normal((n, 3, size, size))) / r0).real
    bg /= bg.std(axis=(2, 3), keepdims=True)
    crng = np.random.default_rng(12345)  # the class constants: fixed, not per data seed
    tints = crng.standard_normal((k, 3))
    theta = (np.arange(k) % 5) * np.pi / 5
    freq = np.where(np.arange(k) < 5, 0.18, 0.32)
    F = np.fft.fft2(rng.standard_normal((n, 1, size, size)))
    d = np.angle(np.exp(2j * (ang[None, None] - theta[y][:, None, None, None]))) / 2
    mask = np.exp(-(d / 0.2) ** 2) * np.exp(-((r[None, None] - freq[y][:, None, None, None]) / 0.05) ** 2)
    tex = np.fft.ifft2(F * mask).real
    tex /= tex.std(axis=(2, 3), keepdims=True)
    colour = (tint * tints[y] + rng.standard_normal((n, 3)))[:, :, None, None]
    x = bg + colour + tex_amp * tex * rng.uniform(0.5, 1.0, (n, 3, 1, 1))
    return x.astype(np.float32), y


if __name__ == "__main__":
    from sklearn.linear_model import LogisticRegression
    for tint in (0.5, 1.0):
        rng = np.random.default_rng(0)
        t0 = time.perf_counter()
        x, y = make(6000, 16, rng, tint=tint)
        g = time.perf_counter() - t0
        clf = LogisticRegression(max_iter=300).fit(x[:5000].reshape(5000, -1), y[:5000])
        print(tint, "gen s", round(g, 2), "linear probe val acc", clf.score(x[5000:].reshape(1000, -1), y[5000:]))
