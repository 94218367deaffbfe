"""The lessons, as data: each a pair, its shared config, what the sources say it shows, and why.

Sizes fit a CPU: each pair is about a minute on two shared cores at the default steps (measured; see the report
in docs/lessons.md). Every net trains with AdamW at 1e-3 (Loshchilov & Hutter 2019): each variant gets a step size
that does not depend on its gradient's scale, so a net that fails to learn does so because its gradient is gone
(far below Adam's eps of 1e-8), not because of a learning rate picked for the other variant. The thresholds are
the project's, fixed before any run (engine.analysis.gradflow): first/last below 1e-3 is vanishing.
"""

from __future__ import annotations

import math
from typing import Any

from engine.analysis.gradflow import VANISH
from engine.lab.lessons.base import Expectation, Lesson, Variant, register_lesson

_LOG_VANISH = math.log10(VANISH)
_ADAMW = {"optimizer": "adamw", "lr": 1e-3}
_GLOROT = "Glorot & Bengio 2010, sec. 4.2.2, fig. 7"
_HE15 = "He et al. 2015, sec. 2.2, eq. 14"
_HE16B = "He et al. 2016b, sec. 3, eq. 5"
_HE16 = "He et al. 2016, sec. 4.1"


def _mlp(connection: str, init: str = "default") -> dict[str, Any]:
    """The depth-50 MLP of the gradients experiment: 50 weighted layers of width 64 on the flattened 8x8 digits."""
    name = f"{'plain' if connection == 'none' else connection}_mlp50" + ("" if init == "default" else f"_{init}")
    return {"family": "mlp", "name": name, "input": [64], "num_classes": 10, "depth": 50, "width": 64,
            "connection": connection, "activation": "relu", "norm": "none", "init": init}


def _cifar56(shortcut: str, norm: str) -> dict[str, Any]:
    """He et al. 2016 sec. 4.2's 56-layer CIFAR net (3 stages of 9 basic blocks, 6n + 2 = 56 weighted layers) at
    width 8 (theirs: 16) on 16x16 images (theirs: 32x32): a quarter of the channels' and pixels' cost, same depth."""
    return {"family": "resnet", "name": f"{'plain' if shortcut == 'none' else 'resnet'}56" + ("" if norm == "batch"
            else "_nobn"), "input": [3, 16, 16], "num_classes": 10, "stem": "cifar", "block": "basic",
            "shortcut": shortcut, "norm": norm, "init": "default",
            "stages": [{"blocks": 9, "width": w} for w in (8, 16, 32)]}


_DIGITS = {"dataset": "digits", "dataset_options": {"flatten": True}, **_ADAMW}
_TEXTURES = {"dataset": "textures", "dataset_options": {"size": 16, "train_size": 4000, "val_size": 1000}, **_ADAMW}


def _vanishes(variant: str, source: str) -> Expectation:
    return Expectation(f"{variant}'s gradient vanishes toward the input at init (first/last below 1e-3)", variant,
                       "log_ratio_init", "below", _LOG_VANISH, source)


def _not_vanishing(variant: str, source: str) -> Expectation:
    return Expectation(f"{variant}'s gradient does not vanish at init (first/last at least 1e-3)", variant,
                       "log_ratio_init", "above", _LOG_VANISH, source)


def _trains_better(better: str, worse: str, source: str) -> Expectation:
    return Expectation(f"{better} reaches a higher validation accuracy than {worse}", better, "val_acc", "above",
                       0.0, source, than=worse)


register_lesson(Lesson(
    name="vanishing_mlp",
    title="Vanishing gradient: a 50-layer MLP, plain vs residual",
    question="Does the gradient reach the first layer of a 50-layer network without normalisation?",
    variants=(Variant("plain", _mlp("none"), "50 linear + ReLU layers, no normalisation, PyTorch's default init"),
              Variant("residual", _mlp("residual"), "the same layers, each wrapped in an identity shortcut")),
    config=_DIGITS,
    expectations=(_vanishes("plain", f"{_GLOROT}; {_HE15}"), _not_vanishing("residual", _HE16B),
                  _trains_better("residual", "plain", _HE16B)),
    explanation=(
        "Backpropagation multiplies the gradient by every layer's weights on its way back to the input. With "
        "PyTorch's default init (weights uniform in ±1/√n, variance 1/(3n)) each ReLU layer scales the gradient's "
        "variance by n·Var(w)/2 = 1/6 (He et al. 2015, sec. 2.2, eq. 14), so 48 hidden layers shrink it by about "
        "(1/6)^24 ≈ 10^-19 in norm: the first layers get almost no signal and cannot learn. Glorot & Bengio 2010 "
        "(sec. 4.2.2, fig. 7) saw the same shrinkage with the standard init in 5-layer tanh nets. An identity "
        "shortcut adds the output's gradient to every layer unchanged: ∂L/∂x_l = ∂L/∂x_L · (1 + ∂/∂x_l Σ F) "
        "(He et al. 2016b, sec. 3, eq. 5), so it cannot vanish however deep the net."),
    setup="Depth-50 fully connected ReLU nets (width 64) on the flattened 8x8 digits, AdamW 1e-3, one seed; the same "
          "nets as the gradients experiment's plain/default and residual/default. Glorot & Bengio used 5-layer tanh "
          "nets, He et al. 2015 conv nets on ImageNet.",
    takeaway=("Without normalisation and with PyTorch's default init every layer shrinks the gradient on its way back, "
              "so 50 layers leave the first one almost nothing and the plain net cannot learn; the identity shortcut "
              "carries the output's gradient to every layer unchanged."),
    steps=300,
))

register_lesson(Lesson(
    name="vanishing_conv",
    title="Plain-56 vs ResNet-56 without BatchNorm",
    question="Does a 56-layer conv net without BatchNorm lose its gradient, and does the shortcut keep it?",
    variants=(Variant("plain56", _cifar56("none", "none"), "56 conv layers, no BatchNorm, PyTorch's default init"),
              Variant("resnet56", _cifar56("A", "none"), "the same, with identity (zero-pad, option A) shortcuts")),
    config=_TEXTURES,
    expectations=(_vanishes("plain56", _HE15), _not_vanishing("resnet56", _HE16B),
                  _trains_better("resnet56", "plain56", _HE16B)),
    explanation=(
        "The same arithmetic holds for convolutions, with n = k²·C inputs per output (He et al. 2015, sec. 2.2): "
        "under PyTorch's default init every conv layer scales the gradient's variance by 1/6, and 55 layers leave "
        "the first one nothing (in float32 it can underflow to exactly 0). The identity shortcuts carry the "
        "output's gradient to every block unchanged (He et al. 2016b, eq. 5). Note that this is not how ResNets "
        "are trained: He et al. used their own init (Kaiming, variance 2/n, which keeps the gradient's size: eq. 14 "
        "gives a factor of 1) and BatchNorm, and so do torchvision and this project's ResNets by default "
        "(init: torchvision). The next lesson adds BatchNorm."),
    setup="He et al.'s 56-layer CIFAR nets (3 stages of 9 basic blocks) at width 8 (theirs: 16) on 16x16 textures "
          "(theirs: 32x32 CIFAR-10), without BatchNorm and with PyTorch's default init (spec key init: default), "
          "AdamW 1e-3 (theirs: SGD 0.1), one seed.",
    takeaway=("A 56-layer conv net without BatchNorm loses its gradient the same way, and the shortcuts keep it. Real "
              "ResNets are trained with BatchNorm and He init, which the next lessons add: each of them alone keeps "
              "the gradient's size."),
    steps=150,
))

register_lesson(Lesson(
    name="batchnorm_hides",
    title="The same pair with BatchNorm: why the vanishing gradient disappears",
    question="With BatchNorm after every conv, is there still a vanishing gradient for the shortcut to fix?",
    variants=(Variant("plain56", _cifar56("none", "batch"), "56 conv layers, BatchNorm after each, default init"),
              Variant("resnet56", _cifar56("A", "batch"), "the same, with identity (option A) shortcuts")),
    config=_TEXTURES,
    expectations=(
        _not_vanishing("plain56", f"{_HE16}; Ioffe & Szegedy 2015, sec. 3.3"),
        Expectation("plain56's gradient grows toward the input at init (first/last above 1)", "plain56",
                    "log_ratio_init", "above", 0.0, "Yang et al. 2019, sec. 3"),
        _not_vanishing("resnet56", _HE16B),
        Expectation("resnet56 ends at a lower training loss than plain56 (degradation: an optimisation difficulty)",
                    "resnet56", "loss_end", "below", 0.0, f"{_HE16}, fig. 6", than="plain56"),
    ),
    explanation=(
        "BatchNorm re-standardises every layer's pre-activations over the batch, so the scale of the weights no "
        "longer reaches the signal: BN(aWu) = BN(Wu), and the gradient with respect to u does not change with a "
        "(Ioffe & Szegedy 2015, sec. 3.3). The product of per-layer factors that made the plain net's gradient "
        "vanish in the previous lesson is gone; the only change from that lesson is BatchNorm. He et al. 2016 used "
        "BatchNorm in their plain nets and checked: 'the backward propagated gradients exhibit healthy norms with "
        "BN' (sec. 4.1). The deeper plain net's higher training error they reported (degradation) they called an "
        "optimisation difficulty, not vanishing gradients. At init a BN plain net's gradient even grows toward the "
        "input (Yang et al. 2019, sec. 3): this project's gradients experiment measured a first/last ratio of about "
        "1.6e4 for a depth-50 MLP with BatchNorm (bench/experiments_results.md). So with BatchNorm the shortcut's "
        "benefit is easier optimisation, which shows in the training loss over a long run, and a short run may not "
        "show it at all."),
    setup="The previous lesson's nets with BatchNorm after every conv (same default init, data, optimizer and seed). "
          "He et al. trained CIFAR-10 for 64k iterations with SGD; this is a short run, so the loss comparison is "
          "the least certain part.",
    takeaway=("With BatchNorm neither net's gradient vanishes (the plain one's even grows toward the input), so the "
              "gradient does not show what the shortcut does here; its benefit is easier optimisation, which shows in "
              "the training loss over long runs. This is why Plain-20 and ResNet-20 with BatchNorm, trained on the "
              "Train page, show no vanishing gradient."),
    steps=150,
))

register_lesson(Lesson(
    name="init_hides",
    title="He init: a plain 50-layer MLP keeps its gradient without shortcuts",
    question="Is the vanishing gradient a property of depth, or of the initialisation?",
    variants=(Variant("default", _mlp("none"), "plain, PyTorch's default init (variance 1/(3n))"),
              Variant("he", _mlp("none", "he"), "plain, He init (variance 2/n)")),
    config=_DIGITS,
    expectations=(
        _vanishes("default", f"{_GLOROT}; {_HE15}"),
        Expectation("he's gradient keeps its size at init (first/last within a factor 10 of 1)", "he",
                    "abs_log_ratio_init", "below", 1.0, f"{_HE15} and fig. 3"),
        _trains_better("he", "default", "He et al. 2015, fig. 3"),
    ),
    explanation=(
        "He et al. 2015 (sec. 2.2) chose the init so that each ReLU layer leaves the gradient's variance unchanged: "
        "with Var(w) = 2/n the factor n·Var(w)/2 of eq. 14 is exactly 1, so depth alone no longer shrinks it, and "
        "their 30-layer plain net trains where the Xavier-initialised one stalls (fig. 3). Together with "
        "BatchNorm (Ioffe & Szegedy 2015) this is why a vanishing gradient at init was largely solved before "
        "ResNets, and why He et al. 2016 present shortcuts as a cure for an optimisation difficulty."),
    setup="The first lesson's plain net with two inits (same data, optimizer and seed); the gradients experiment's "
          "plain/default and plain/he.",
    takeaway=("He init keeps the gradient's size through 50 plain layers: the vanishing gradient at init comes from "
              "the init (and the missing normalisation), not from depth alone."),
    steps=300,
))
