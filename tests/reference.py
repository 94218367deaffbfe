"""Published figures from ../shared/REFERENCE.md: (params exact, MACs at batch 1)."""

REFERENCE = {
    "resnet18": (11_689_512, 1.8141e9),
    "resnet34": (21_797_672, 3.6638e9),
    "resnet50": (25_557_032, 4.0892e9),
    "resnet101": (44_549_160, 7.8014e9),
    "resnet152": (60_192_808, 11.5136e9),
    "resnet20": (269_722, 40.55e6),
    "resnet32": (464_154, 68.86e6),
    "resnet44": (658_586, 97.17e6),
    "resnet56": (853_018, 125.49e6),
    "resnet110": (1_727_962, 252.89e6),
    # Option A adds no parameters: the plain twins count the same.
    "plain20": (269_722, 40.55e6),
    "plain56": (853_018, 125.49e6),
}
