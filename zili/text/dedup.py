"""Deduplication: exact (hash of the cleaned text) and near (MinHash + LSH).

Near duplicates: each document's set of character n-grams (whitespace removed) gets a
MinHash signature (computed here with numpy, see :func:`signature`); datasketch's LSH
index proposes candidate pairs, and a
candidate counts as a duplicate only if the signatures' estimated Jaccard similarity
reaches the threshold (LSH alone admits some false positives). Documents are seen in a
fixed order and the first of a group is kept, so the result is deterministic.

Signatures are computed per document (in worker processes); the LSH index lives in
one process, since every document must be checked against all kept ones.
"""

from __future__ import annotations

import hashlib
from functools import lru_cache
from typing import Any

import numpy as np


def _datasketch() -> Any:
    try:
        import datasketch
    except ImportError:
        raise ImportError(
            "near-duplicate detection needs datasketch: pip install zili[data]"
        ) from None
    return datasketch


def text_hash(text: str) -> str:
    """Hex sha256 of the UTF-8 text: the key for exact deduplication and the split."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def shingles(text: str, n: int) -> set[bytes]:
    """Character n-grams of ``text`` with whitespace removed (the whole text if shorter)."""
    s = "".join(text.split())
    if len(s) <= n:
        return {s.encode("utf-8")}
    return {s[i:i + n].encode("utf-8") for i in range(len(s) - n + 1)}


_PRIME = np.uint64((1 << 61) - 1)
_LOW32 = np.uint64(0xFFFFFFFF)


@lru_cache(maxsize=4)
def _permutations(num_perm: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    # a, b < 2**32 and hashes < 2**32 keep a*h + b below 2**64: no overflow
    rng = np.random.default_rng(seed)
    a = rng.integers(1, 1 << 32, size=(num_perm, 1), dtype=np.uint64)
    b = rng.integers(0, 1 << 32, size=(num_perm, 1), dtype=np.uint64)
    return a, b


def shingle_hashes(text: str, n: int) -> np.ndarray:
    """Distinct 32-bit hashes (as uint64) of the :func:`shingles` of ``text``.

    Computed with numpy over the code points (a polynomial hash of each window, then a
    murmur-style mix), which is many times faster than hashing each shingle in Python.
    """
    s = "".join(text.split())
    cp = np.frombuffer(s.encode("utf-32-le"), dtype=np.uint32).astype(np.uint64)
    m = max(len(cp) - n + 1, 1)
    h = np.zeros(m, dtype=np.uint64)
    for k in range(min(n, len(cp))):
        h = h * np.uint64(1_000_003) + cp[k:k + m]
    h ^= h >> np.uint64(33)
    h *= np.uint64(0xFF51AFD7ED558CCD)
    h ^= h >> np.uint64(33)
    return np.unique(h & _LOW32)


def signature(text: str, ngram: int, num_perm: int, seed: int) -> np.ndarray:
    """MinHash signature (uint32 array of ``num_perm`` values) of the text's shingles.

    Permutation i is h -> ((a_i * h + b_i) mod (2**61 - 1)) mod 2**32, with a_i, b_i drawn
    from ``seed``; the signature holds each permutation's minimum over the shingles.
    """
    a, b = _permutations(num_perm, seed)
    hv = shingle_hashes(text, ngram)
    sig = np.full(num_perm, np.iinfo(np.uint64).max, dtype=np.uint64)
    for i in range(0, len(hv), 4096):  # blocks bound the memory for long documents
        block = ((a * hv[None, i:i + 4096] + b) % _PRIME) & _LOW32
        np.minimum(sig, block.min(axis=1), out=sig)
    return sig.astype(np.uint32)


def _lean(ds: Any, seed: int, sig: np.ndarray) -> Any:
    # datasketch's LSH only bands and buckets the signature's values; 2.x asks which
    # hashing scheme made them, 1.x has no schemes at all
    values = sig.astype(np.uint64)
    try:
        return ds.LeanMinHash(seed=seed, hashvalues=values, scheme="affine32")
    except TypeError:
        return ds.LeanMinHash(seed=seed, hashvalues=values)


class Deduplicator:
    """Decides, document by document in order, whether each one duplicates a kept one."""

    def __init__(self, cfg: dict[str, Any]) -> None:
        """Set up from the ``dedup`` table of a pipeline config.

        Raises:
            ImportError: near deduplication is on and datasketch is not installed.
        """
        d = cfg["dedup"]
        self.exact = bool(d["exact"])
        self.near = bool(d["near"])
        self.threshold = float(d["threshold"])
        self.num_perm = int(d["num_perm"])
        self.seed = int(d["seed"])
        self.seen: set[str] = set()
        self.sigs: list[np.ndarray] = []
        self.lsh = None
        if self.near:
            self.lsh = _datasketch().MinHashLSH(threshold=self.threshold,
                                                num_perm=self.num_perm)

    def check(self, digest: str, sig: np.ndarray | None) -> str | None:
        """Return "exact" or "near" if the document duplicates a kept one, else None.

        A kept document is remembered; ``digest`` is :func:`text_hash` of its text and
        ``sig`` its :func:`signature` (needed when near deduplication is on).
        """
        if self.exact and digest in self.seen:
            return "exact"
        if self.lsh is not None:
            if sig is None:
                raise ValueError("near deduplication needs a MinHash signature")
            ds = _datasketch()
            lean = _lean(ds, self.seed, sig)
            for key in self.lsh.query(lean):
                if float(np.mean(self.sigs[key] == sig)) >= self.threshold:
                    return "near"
            self.lsh.insert(len(self.sigs), lean, check_duplication=False)
            self.sigs.append(sig)
        self.seen.add(digest)
        return None
