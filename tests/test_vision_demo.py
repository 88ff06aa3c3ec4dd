"""``zili demo --vision``: its data split, its confusion matrix (scikit-learn as oracle) and a
one-epoch run through the command line that must already learn the digits."""

from __future__ import annotations

import re

import numpy as np
from sklearn.metrics import confusion_matrix as sk_confusion

from zili.cli.main import build_parser
from zili.cli.vision import confusion_matrix, digits, format_confusion


def test_split_is_stratified_and_disjoint():
    x_train, y_train, x_test, y_test = digits(0)
    assert x_train.shape[1:] == (1, 8, 8) and len(x_train) + len(x_test) == 1797
    assert x_train.min() >= 0.0 and x_train.max() <= 1.0
    counts = np.bincount(y_test, minlength=10) / np.bincount(np.concatenate([y_train, y_test]))
    assert np.all(np.abs(counts - 0.2) < 0.01)
    train_rows = {row.tobytes() + bytes([label]) for row, label in zip(x_train, y_train)}
    assert sum(row.tobytes() + bytes([label]) in train_rows
               for row, label in zip(x_test, y_test)) <= 2  # the data has a few duplicates


def test_confusion_matrix_matches_scikit_learn():
    rng = np.random.default_rng(0)
    truth, predicted = rng.integers(0, 10, 200), rng.integers(0, 10, 200)
    counts = confusion_matrix(truth, predicted)
    np.testing.assert_array_equal(counts, sk_confusion(truth, predicted, labels=range(10)))
    table = format_confusion(counts)
    assert len(table.splitlines()) == 11 and str(counts[3, 7]) in table.splitlines()[4]


def test_one_epoch_from_the_command_line_learns(capsys):
    args = build_parser().parse_args(["demo", "--vision", "--device", "numpy"])
    args.vision_epochs = 1
    args.func(args)
    out = capsys.readouterr().out
    accuracy = float(re.search(r"test accuracy ([\d.]+)%", out).group(1)) / 100
    assert accuracy > 0.85, out
    rows = [line.split()[1:] for line in out.splitlines()[-10:]]
    assert sum(int(v) for row in rows for v in row) == 359
