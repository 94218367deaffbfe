"""Does a small ResNet learn ``shapes`` while logistic regression on raw pixels does not?

Not a test (minutes of CPU): run ``python bench/shapes_learnability.py`` and it prints one JSON
object with both validation accuracies. The dataset is designed for resnet >= 0.85, logreg < 0.5.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # `python bench/NAME.py` from a fresh clone: the engine is not installed

import torch  # noqa: E402
from torch import nn  # noqa: E402

from engine.data import augment_batch, batches, load_dataset  # noqa: E402


class Block(nn.Module):
    """A basic residual block with a 1x1 projection shortcut where the shape changes."""

    def __init__(self, cin: int, cout: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or cin != cout:
            self.shortcut = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = torch.relu(self.bn1(self.conv1(x)))
        return torch.relu(self.bn2(self.conv2(out)) + self.shortcut(x))


def small_resnet(num_classes: int = 10) -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(3, 16, 3, 1, 1, bias=False), nn.BatchNorm2d(16), nn.ReLU(),
        Block(16, 16, 1), Block(16, 32, 2), Block(32, 64, 2),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(64, num_classes),
    )


def accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    model.eval()
    with torch.no_grad():
        correct = sum(int((model(xb).argmax(1) == yb).sum()) for xb, yb in batches(x, y, 500, shuffle=False))
    return correct / len(x)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--epochs", type=int, default=8)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    torch.manual_seed(args.seed)
    ds = load_dataset("shapes", seed=args.seed)
    t0 = time.perf_counter()
    model = small_resnet()
    steps = args.epochs * (len(ds.x_train) // 64)
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=5e-4, nesterov=True)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=0.1, total_steps=steps)
    gen = torch.Generator().manual_seed(args.seed)
    for _ in range(args.epochs):
        model.train()
        for xb, yb in batches(ds.x_train, ds.y_train, 64, shuffle=True, generator=gen, drop_last=True):
            if ds.augment:
                xb = augment_batch(xb, gen)
            loss = nn.functional.cross_entropy(model(xb), yb)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
    resnet_acc = accuracy(model, ds.x_val, ds.y_val)
    train_s = time.perf_counter() - t0

    from sklearn.linear_model import LogisticRegression

    n = 2000
    clf = LogisticRegression(max_iter=300).fit(ds.x_train[:n].reshape(n, -1).numpy(), ds.y_train[:n].numpy())
    logreg_acc = float(clf.score(ds.x_val.reshape(len(ds.x_val), -1).numpy(), ds.y_val.numpy()))
    print(json.dumps({"resnet_val_acc": round(resnet_acc, 4), "resnet_train_s": round(train_s, 1),
                      "epochs": args.epochs, "logreg_val_acc": round(logreg_acc, 4), "logreg_train_n": n}))


if __name__ == "__main__":
    main()
