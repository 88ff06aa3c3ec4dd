"""Deduplication: exact and near duplicates go, distinct documents stay; the MinHash
estimate agrees with the true Jaccard similarity of the shingle sets."""

import numpy as np
import pytest

from zili.text.config import load_config
from zili.text.dedup import Deduplicator, shingle_hashes, shingles, signature, text_hash

BASE = "".join(chr(0x4E00 + 5 * i) for i in range(200))
OTHER = "".join(chr(0x6000 + 5 * i) for i in range(200))


def run(texts, **dedup):
    cfg = load_config(overrides={"dedup": dedup} if dedup else None)
    d = cfg["dedup"]
    dd = Deduplicator(cfg)
    return [dd.check(text_hash(t), signature(t, d["ngram"], d["num_perm"], d["seed"]))
            for t in texts]


def jaccard(a, b, n=5):
    sa, sb = shingles(a, n), shingles(b, n)
    return len(sa & sb) / len(sa | sb)


def test_exact_and_near():
    near = BASE[:100] + "好" + BASE[101:]  # one character changed: 5 of 196 shingles
    far = BASE[:100] + OTHER[:100]  # half shared
    assert jaccard(BASE, near) == pytest.approx(191 / 201)
    assert jaccard(BASE, far) < 0.5
    got = run([BASE, BASE, near, far, OTHER, "短文一", "短文一"])
    assert got == [None, "exact", "near", None, None, None, "exact"]


def test_threshold_and_switches():
    half = BASE[:150] + OTHER[:50]  # Jaccard of 5-grams = 146 / 250 ~ 0.58
    assert run([BASE, half], threshold=0.5) == [None, "near"]
    assert run([BASE, half], threshold=0.8) == [None, None]
    assert run([BASE, BASE], exact=False) == [None, "near"]
    assert run([BASE, BASE[:-1] + "好"], near=False) == [None, None]


def test_shingles_ignore_whitespace():
    assert shingles("甲乙 丙\n丁戊己", 5) == {"甲乙丙丁戊".encode(), "乙丙丁戊己".encode()}
    assert shingles("甲乙", 5) == {"甲乙".encode()}
    assert len(shingle_hashes("甲乙 丙\n丁戊己", 5)) == 2


@pytest.mark.parametrize("k", [20, 60, 100, 150])
def test_signature_estimates_jaccard(k):
    a = BASE
    b = BASE[:k] + OTHER[k:]
    true = jaccard(a, b)
    est = float(np.mean(signature(a, 5, 256, 1) == signature(b, 5, 256, 1)))
    # standard error of the estimate is sqrt(J(1-J)/256) <= 0.032
    assert abs(est - true) < 0.12
    assert signature(a, 5, 64, 1).dtype == np.uint32
    assert np.array_equal(signature(a, 5, 64, 1), signature(a, 5, 64, 1))
    assert not np.array_equal(signature(a, 5, 64, 1), signature(a, 5, 64, 2))
