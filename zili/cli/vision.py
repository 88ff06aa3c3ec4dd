"""``zili demo --vision``: a small CNN learns handwritten digits in well under a minute.

The data are the 1,797 8x8 digit images scikit-learn ships (``load_digits``; nothing is
downloaded). The network uses the vision layers of ``zili.nn``: convolutions, batch
normalisation, max pooling and dropout, trained with Adam on the CPU. The command prints the
held-out accuracy and the confusion matrix, and fails (exit status 1) below 97%.
"""

from __future__ import annotations

import argparse
import math
import time

import numpy as np

import zili
from zili import nn
from zili.nn import functional as F
from zili.optim import Adam

TARGET = 0.97
LR = 3e-3
EPOCHS = 4


def digits(seed: int, test_fraction: float = 0.2) -> tuple[np.ndarray, ...]:
    """(train images, train labels, test images, test labels): a split stratified by class,
    images as float32 (N, 1, 8, 8) scaled to [0, 1].

    Raises:
        RuntimeError: if scikit-learn is not installed (it ships the data).
    """
    try:
        from sklearn.datasets import load_digits
    except ImportError as error:  # an optional extra: say how to get it
        raise RuntimeError("zili demo --vision needs scikit-learn for its digits data: "
                           "pip install 'zili[vision]'") from error
    data = load_digits()
    images = (data.images / 16.0).astype(np.float32)[:, None]
    labels = data.target.astype(np.int64)
    rng = np.random.default_rng(seed)
    test = np.zeros(len(labels), bool)
    for digit in range(10):
        members = rng.permutation(np.flatnonzero(labels == digit))
        test[members[:round(len(members) * test_fraction)]] = True
    return images[~test], labels[~test], images[test], labels[test]


def small_cnn() -> nn.Module:
    """Three conv-bn-relu blocks (pooling after the last two), dropout, linear: 8x8 -> 10
    classes. Convolutions carry no bias: the batch norm after each has its own."""
    return nn.Sequential(
        nn.Conv2d(1, 16, 3, padding=1, bias=False), nn.BatchNorm2d(16), nn.ReLU(),
        nn.Conv2d(16, 32, 3, padding=1, bias=False), nn.BatchNorm2d(32), nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 3, padding=1, bias=False), nn.BatchNorm2d(64), nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(), nn.Dropout(0.25), nn.Linear(64 * 2 * 2, 10))


def predict(model: nn.Module, images: np.ndarray, device: str, batch: int = 512) -> np.ndarray:
    """Class predictions of ``model`` (in eval mode) for ``images``."""
    model.eval()
    out = []
    with zili.no_grad():
        for start in range(0, len(images), batch):
            logits = model(zili.tensor(images[start:start + batch], device=device))
            out.append(logits.argmax(-1).numpy())
    return np.concatenate(out)


def confusion_matrix(truth: np.ndarray, predicted: np.ndarray, classes: int = 10) -> np.ndarray:
    """counts[i, j] = how many images of class i were predicted as j."""
    counts = np.zeros((classes, classes), np.int64)
    np.add.at(counts, (truth, predicted), 1)
    return counts


def format_confusion(counts: np.ndarray) -> str:
    """The confusion matrix as a text table (rows: true digit, columns: predicted)."""
    lines = ["true\\pred " + " ".join(f"{j:4d}" for j in range(counts.shape[1]))]
    for i, row in enumerate(counts):
        lines.append(f"{i:9d} " + " ".join(f"{v:4d}" for v in row))
    return "\n".join(lines)


def cmd_vision(args: argparse.Namespace) -> int:
    """Train and evaluate the digits CNN; returns 0 at >= 97% test accuracy, else 1."""
    started = time.perf_counter()
    seed = getattr(args, "seed", 0)
    epochs = getattr(args, "vision_epochs", EPOCHS)
    device = getattr(args, "device", None) or zili.get_device().name
    zili.manual_seed(seed)
    x_train, y_train, x_test, y_test = digits(seed)
    print(f"zili demo --vision: a CNN on scikit-learn's 8x8 digits ({len(x_train)} train, "
          f"{len(x_test)} test images) on device {device!r}")
    model = small_cnn().to(device)
    optimizer = Adam(model.parameters(), lr=LR)
    rng = np.random.default_rng(seed)
    batch = 64
    for epoch in range(epochs):
        # cosine decay of the learning rate over the epochs: the last ones settle
        for group in optimizer.param_groups:
            group["lr"] = LR * 0.5 * (1.0 + math.cos(math.pi * epoch / epochs))
        model.train()
        order = rng.permutation(len(x_train))
        total = 0.0
        for start in range(0, len(order), batch):
            pick = order[start:start + batch]
            if len(pick) < 2:  # batch norm needs two samples per channel
                continue
            logits = model(zili.tensor(x_train[pick], device=device))
            loss = F.cross_entropy(logits, zili.tensor(y_train[pick], device=device))
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            total += loss.item() * len(pick)
        print(f"epoch {epoch + 1:2d}  train loss {total / len(order):.4f}  "
              f"({time.perf_counter() - started:.1f}s)")
    predicted = predict(model, x_test, device)
    accuracy = float((predicted == y_test).mean())
    elapsed = time.perf_counter() - started
    print()
    print(f"test accuracy {accuracy:.2%} ({int((predicted == y_test).sum())}/{len(y_test)}) "
          f"after {epochs} epochs in {elapsed:.1f}s")
    print(format_confusion(confusion_matrix(y_test, predicted)))
    return 0 if accuracy >= TARGET else 1
