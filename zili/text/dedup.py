"""Deduplication: exact (hash of the cleaned text) and near (MinHash + LSH).

Near duplicates are found with datasketch: each document's set of character n-grams
(whitespace removed) gets a MinHash signature; LSH proposes candidate pairs, and a
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


@lru_cache(maxsize=4)
def _template(num_perm: int, seed: int) -> Any:
    # Building a MinHash draws its permutations; do that once and share them.
    return _datasketch().MinHash(num_perm=num_perm, seed=seed)


def signature(text: str, ngram: int, num_perm: int, seed: int) -> np.ndarray:
    """MinHash signature (uint32 array of ``num_perm`` values) of the text's shingles.

    Raises:
        ImportError: datasketch is not installed.
    """
    ds = _datasketch()
    tmpl = _template(num_perm, seed)
    m = ds.MinHash(num_perm=num_perm, seed=seed, permutations=tmpl.permutations,
                    scheme=tmpl.scheme)
    m.update_batch(list(shingles(text, ngram)))
    # MinHash values are below 2**32 by construction, so uint32 loses nothing
    return m.hashvalues.astype(np.uint32)


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
            lean = ds.LeanMinHash(seed=self.seed, hashvalues=sig.astype(np.uint64),
                                  scheme=_template(self.num_perm, self.seed).scheme)
            for key in self.lsh.query(lean):
                if float(np.mean(self.sigs[key] == sig)) >= self.threshold:
                    return "near"
            self.lsh.insert(len(self.sigs), lean, check_duplication=False)
            self.sigs.append(sig)
        self.seen.add(digest)
        return None
