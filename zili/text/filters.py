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
from collections import Counter
from functools import lru_cache
from typing import Any

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


def top_ngram_frac(toks: list[str], n: int) -> float:
    """Share of token characters covered by the most frequent n-gram (counted if > 1)."""
    total = sum(len(t) for t in toks)
    if len(toks) < n or total == 0:
        return 0.0
    counts = Counter(tuple(toks[i:i + n]) for i in range(len(toks) - n + 1))
    gram, count = counts.most_common(1)[0]
    if count < 2:
        return 0.0
    return count * sum(len(t) for t in gram) / total


def dup_ngram_frac(toks: list[str], n: int) -> float:
    """Share of token characters inside n-grams that occur more than once.

    Overlapping occurrences are not double counted: a token is covered or not.
    """
    total = sum(len(t) for t in toks)
    if len(toks) < n or total == 0:
        return 0.0
    grams = [tuple(toks[i:i + n]) for i in range(len(toks) - n + 1)]
    counts = Counter(grams)
    covered = bytearray(len(toks))
    for i, g in enumerate(grams):
        if counts[g] > 1:
            covered[i:i + n] = b"\x01" * n
    return sum(len(t) for t, c in zip(toks, covered, strict=True) if c) / total


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
            if any(top_ngram_frac(toks, n) > t for n, t in self.top):
                return "top_ngram"
            if any(dup_ngram_frac(toks, n) > t for n, t in self.dup):
                return "dup_ngram"
        nonspace = len(_NONSPACE_RE.findall(text)) or 1
        if len(_symbol_re().findall(text)) / nonspace > f["max_symbol_ratio"]:
            return "symbol_ratio"
        if len(_DIGIT_RE.findall(text)) / nonspace > f["max_digit_ratio"]:
            return "digit_ratio"
        if self.block is not None and self.block.search(text.lower()):
            return "blocklist"
        return None
