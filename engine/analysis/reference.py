"""Published figures (../shared/REFERENCE.md): parameters exact, MACs at batch 1 (conv + linear).

Used by the tests and shown next to our counts on the Blocks page.
"""

from __future__ import annotations

# name -> (params, MACs, source)
PUBLISHED: dict[str, tuple[int, float, str]] = {
    "resnet18": (11_689_512, 1.8141e9, "torchvision"),
    "resnet34": (21_797_672, 3.6638e9, "torchvision"),
    "resnet50": (25_557_032, 4.0892e9, "torchvision"),
    "resnet101": (44_549_160, 7.8014e9, "torchvision"),
    "resnet152": (60_192_808, 11.5136e9, "torchvision"),
    "resnet20": (269_722, 40.55e6, "He et al. 2016, sec. 4.2"),
    "resnet32": (464_154, 68.86e6, "He et al. 2016, sec. 4.2"),
    "resnet44": (658_586, 97.17e6, "He et al. 2016, sec. 4.2"),
    "resnet56": (853_018, 125.49e6, "He et al. 2016, sec. 4.2"),
    "resnet110": (1_727_962, 252.89e6, "He et al. 2016, sec. 4.2"),
    # Option A adds no parameters: the plain twins count the same.
    "plain20": (269_722, 40.55e6, "= resnet20 (option A has no parameters)"),
    "plain56": (853_018, 125.49e6, "= resnet56 (option A has no parameters)"),
    "densenet121": (7_978_856, 2.8342e9, "torchvision"),
    "unet": (31_043_521, 12.04e9, "Ronneberger et al. 2015 (classic, 128x128)"),
}
