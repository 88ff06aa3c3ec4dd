"""Quality filters: hand-made documents dropped by exactly the filter meant to catch them,
and the n-gram statistics checked against a naive independent implementation."""

from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from zili.text.config import load_config
from zili.text.filters import (
    QualityFilter,
    cjk_ratio,
    dup_line_stats,
    dup_ngram_frac,
    tokens,
    top_ngram_frac,
)

# 120 distinct CJK characters: text with no repetition at all
DISTINCT = "".join(chr(0x4E00 + 3 * i) for i in range(120))


def qf(**filters):
    return QualityFilter(load_config(overrides={"filters": filters} if filters else None))


@pytest.mark.parametrize("text, want", [
    ("今天天气很好，我们一起去公园散步。", None),
    (DISTINCT, None),
    ("太短了", "length"),
    ("hello world, this is English only text.", "cjk_ratio"),
    ("第一行内容在这里\n第一行内容在这里\n第一行内容在这里\n另外一行的内容", "dup_lines"),
    ("点击这里领取大奖" * 10, "top_ngram"),
    (DISTINCT[:80] + DISTINCT[:20], "dup_ngram"),
    ("价格☆☆☆☆★★★★优惠活动开始了", "symbol_ratio"),
    ("价格是12345和67890元整", "digit_ratio"),
    ("这篇文章包含违禁词语应该被删除", "blocklist"),
    ("这篇文章包含Bad词语应该被删除", "blocklist"),  # keyword matched case- and width-blind
])
def test_each_filter(text, want):
    assert qf(blocklist=["违禁词", "ＢＡＤ"]).check(text) == want


def test_thresholds_come_from_config():
    assert qf(min_chars=100).check("今天天气很好，我们一起去公园散步。") == "length"
    assert qf(max_chars=5).check("今天天气很好") == "length"
    assert qf(min_cjk_ratio=0.0).check("hello world, this is English only text.") is None
    # the n-gram rules do not judge documents shorter than ngram_min_tokens
    assert qf(ngram_min_tokens=200).check("点击这里领取大奖" * 10) is None


def test_cjk_ratio_and_tokens():
    assert cjk_ratio("中文ab c") == 2 / 5
    assert cjk_ratio("") == 0.0
    assert tokens("我爱 Python3 和C++!") == ["我", "爱", "Python3", "和", "C"]


def test_dup_line_stats():
    assert dup_line_stats("甲乙\n丙\n甲乙\n\n甲乙") == (2 / 4, 4 / 7)
    assert dup_line_stats("") == (0.0, 0.0)


def naive_top(toks, n):
    total = sum(map(len, toks))
    grams = Counter(tuple(toks[i:i + n]) for i in range(len(toks) - n + 1))
    if not grams or total == 0:
        return 0.0
    best = max(grams.values())
    if best < 2:
        return 0.0
    return max(best * sum(map(len, g)) for g, c in grams.items() if c == best) / total


def naive_dup(toks, n):
    total = sum(map(len, toks))
    grams = Counter(tuple(toks[i:i + n]) for i in range(len(toks) - n + 1))
    covered = set()
    for i in range(len(toks) - n + 1):
        if grams[tuple(toks[i:i + n])] > 1:
            covered.update(range(i, i + n))
    return sum(len(toks[i]) for i in covered) / total if total else 0.0


@settings(max_examples=150, deadline=None)
@given(st.lists(st.sampled_from(["甲", "乙", "丙", "ab", "xyz"]), max_size=40),
       st.integers(2, 10))
def test_ngram_stats_match_naive(toks, n):
    assert top_ngram_frac(toks, n) == pytest.approx(naive_top(toks, n))
    assert dup_ngram_frac(toks, n) == pytest.approx(naive_dup(toks, n))


@settings(max_examples=100, deadline=None)
@given(st.lists(st.sampled_from(["甲", "乙", "丙", "ab"]), max_size=40), st.integers(2, 9))
def test_dup_share_never_grows_with_n(toks, n):
    # the filter stops early on this property; check it against the naive definition
    assert naive_dup(toks, n + 1) <= naive_dup(toks, n) + 1e-12
