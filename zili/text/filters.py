"""Quality filters. Each has a name (used in the report) and a threshold in the config.

A document is judged by the filters in :data:`FILTER_NAMES` order and is dropped by the
first one it fails, so every dropped document is counted against exactly one filter.

The repetition rules follow Gopher (Rae et al. 2021, appendix A) with one change for
Chinese, which has no spaces between words: the "words" are one token per CJK character
and one per run of other letters or digits.
"""

from __future__ import annotations

import re
import sys
import unicodedata
from functools import lru_cache
from typing import Any

import numpy as np

from zili.text.normalize import normalize

FILTER_NAMES = (
    "length", "cjk_ratio", "dup_lines", "top_ngram", "dup_ngram",
    "symbol_ratio", "digit_ratio", "blocklist",
)

# CJK Unified Ideographs with extension A, compatibility ideographs, and extensions B-F.
_CJK = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0002ffff"
_CJK_RE = re.compile(f"[{_CJK}]")
_TOKEN_RE = re.compile(f"[{_CJK}]|[^\\W_{_CJK}]+")
_DIGIT_RE = re.compile(r"\d")
_NONSPACE_RE = re.compile(r"\S")


@lru_cache(maxsize=1)
def _symbol_re() -> re.Pattern[str]:
    # The re module has no \p{S}; build the class of Unicode symbol characters once.
    ranges: list[str] = []
    start = prev = -2
    for c in range(sys.maxunicode + 1):
        if unicodedata.category(chr(c))[0] == "S":
            if c != prev + 1:
                if start >= 0:
                    ranges.append(f"{re.escape(chr(start))}-{re.escape(chr(prev))}")
                start = c
            prev = c
    ranges.append(f"{re.escape(chr(start))}-{re.escape(chr(prev))}")
    return re.compile("[" + "".join(ranges) + "]")


def tokens(text: str) -> list[str]:
    """Split into Gopher-rule tokens: each CJK character, each run of other word chars."""
    return _TOKEN_RE.findall(text)


def cjk_ratio(text: str) -> float:
    """Share of non-whitespace characters that are CJK ideographs (0 for empty text)."""
    n = len(_NONSPACE_RE.findall(text))
    return len(_CJK_RE.findall(text)) / n if n else 0.0


def dup_line_stats(text: str) -> tuple[float, float]:
    """(share of non-empty lines repeating an earlier line, share of characters in them)."""
    lines = [ln for ln in text.split("\n") if ln.strip()]
    if not lines:
        return 0.0, 0.0
    seen: set[str] = set()
    dup_lines = dup_chars = total = 0
    for ln in lines:
        total += len(ln)
        if ln in seen:
            dup_lines += 1
            dup_chars += len(ln)
        seen.add(ln)
    return dup_lines / len(lines), dup_chars / total


class _Doc:
    """Token ids, character lengths and their running sum, computed once per document."""

    def __init__(self, toks: list[str]) -> None:
        ids: dict[str, int] = {}
        self.key = np.array([ids.setdefault(t, len(ids)) for t in toks], dtype=np.uint64)
        self.lens = np.array(list(map(len, toks)), dtype=np.int64)
        self.csum = np.concatenate(([0], np.cumsum(self.lens)))
        self.total = int(self.csum[-1])
        self._g = (np.zeros(len(self.key), dtype=np.uint64), 0)

    def grams(self, n: int) -> np.ndarray:
        # One uint64 per n-gram, unique for practical purposes: a polynomial in the
        # token ids with wrap-around (a collision would need two n-grams of one
        # document to agree modulo 2**64).
        # (the rules ask for n = 2, 3, ... in turn, so extend the last n-grams by one)
        g, have = self._g
        if have > n:
            g, have = np.zeros(len(self.key), dtype=np.uint64), 0
        while have < n:
            g = g[:len(self.key) - have] * np.uint64(0x9E3779B97F4A7C15) \
                + self.key[have:] + np.uint64(1)
            have += 1
        self._g = (g, have)
        return g

    def top(self, n: int) -> float:
        if len(self.key) < n or self.total == 0:
            return 0.0
        _, first, counts = np.unique(self.grams(n), return_index=True, return_counts=True)
        top = counts.max()
        if top < 2:
            return 0.0
        chars = self.csum[first + n] - self.csum[first]  # characters of each n-gram
        return float(top * chars[counts == top].max()) / self.total

    def dup(self, n: int) -> float:
        if len(self.key) < n or self.total == 0:
            return 0.0
        _, inv, counts = np.unique(self.grams(n), return_inverse=True, return_counts=True)
        starts = np.flatnonzero(counts[inv] > 1)
        if starts.size == 0:
            return 0.0
        # difference array: +1 where a duplicated n-gram starts, -1 just after it ends
        cover = np.zeros(len(self.key) + 1, dtype=np.int64)
        np.add.at(cover, starts, 1)
        np.add.at(cover, starts + n, -1)
        return float(self.lens[np.cumsum(cover[:-1]) > 0].sum()) / self.total


def top_ngram_frac(toks: list[str], n: int) -> float:
    """Share of token characters covered by the most frequent n-gram (counted if > 1).

    Among equally frequent n-grams, the one with the most characters counts.
    """
    return _Doc(toks).top(n)


def dup_ngram_frac(toks: list[str], n: int) -> float:
    """Share of token characters inside n-grams that occur more than once.

    Overlapping occurrences are not double counted: a token is covered or not.
    """
    return _Doc(toks).dup(n)


class QualityFilter:
    """The configured filters; ``check(text)`` names the first one the text fails."""

    def __init__(self, cfg: dict[str, Any]) -> None:
        """Read thresholds from a pipeline config (the ``filters`` table)."""
        f = cfg["filters"]
        self.f = f
        self.top = sorted((int(k), float(v)) for k, v in f["top_ngram_char_frac"].items())
        self.dup = sorted((int(k), float(v)) for k, v in f["dup_ngram_char_frac"].items())
        words = sorted({normalize(w).lower() for w in f["blocklist"] if normalize(w)},
                       key=len, reverse=True)
        self.block = re.compile("|".join(map(re.escape, words))) if words else None

    def check(self, text: str) -> str | None:
        """Return the name of the first filter ``text`` fails, or None if it passes all."""
        f = self.f
        if not f["min_chars"] <= len(text) <= f["max_chars"]:
            return "length"
        if cjk_ratio(text) < f["min_cjk_ratio"]:
            return "cjk_ratio"
        line_frac, line_chars = dup_line_stats(text)
        if line_frac > f["max_dup_line_frac"] or line_chars > f["max_dup_line_char_frac"]:
            return "dup_lines"
        toks = tokens(text)
        if len(toks) >= f["ngram_min_tokens"]:
            doc = _Doc(toks)
            if any(doc.top(n) > t for n, t in self.top):
                return "top_ngram"
            for i, (n, t) in enumerate(self.dup):
                frac = doc.dup(n)
                if frac > t:
                    return "dup_ngram"
                # Characters covered by repeated (n+1)-grams are covered by repeated
                # n-grams too, so the share only falls as n grows: once it is below
                # every later threshold, no later rule can fail.
                if frac <= min(tt for _, tt in self.dup[i:]):
                    break
        nonspace = len(_NONSPACE_RE.findall(text)) or 1
        if len(_symbol_re().findall(text)) / nonspace > f["max_symbol_ratio"]:
            return "symbol_ratio"
        if len(_DIGIT_RE.findall(text)) / nonspace > f["max_digit_ratio"]:
            return "digit_ratio"
        if self.block is not None and self.block.search(text.lower()):
            return "blocklist"
        return None
