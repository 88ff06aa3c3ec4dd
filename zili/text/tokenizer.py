"""Tokenizers: byte-level BPE (``tokenizers`` library, tokenizer.json) or characters.

Both kinds reserve id 0 for ``<|endoftext|>``, which separates documents in shards.
The character kind also has ``<unk>`` (id 1) for characters outside its vocabulary and
is stored as vocab.json: ``{"kind": "char", "tokens": [...]}`` (token i has id i).
:func:`load_tokenizer` opens either kind from a build folder.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Protocol

from zili.files import atomic_write_text

EOS = "<|endoftext|>"
UNK = "<unk>"
BPE_FILE = "tokenizer.json"
CHAR_FILE = "vocab.json"


def _tokenizers() -> Any:
    try:
        import tokenizers
    except ImportError:
        raise ImportError("the BPE tokenizer needs the tokenizers library: "
                          "pip install zili[data]") from None
    return tokenizers


class Tokenizer(Protocol):
    """What the training CLI relies on; both kinds below provide it."""

    vocab_size: int
    eos_id: int

    def encode(self, text: str) -> list[int]: ...

    def decode(self, ids: list[int]) -> str: ...

    def encode_batch(self, texts: list[str]) -> list[list[int]]: ...


class BPETokenizer:
    """Byte-level BPE: every string encodes (no unknown token), decode(encode(s)) == s."""

    kind = "bpe"

    def __init__(self, tok: Any) -> None:
        """Wrap a ``tokenizers.Tokenizer``."""
        self._tok = tok
        self.vocab_size: int = tok.get_vocab_size()
        self.eos_id: int = tok.token_to_id(EOS)

    @classmethod
    def train(cls, texts: Iterable[str], vocab_size: int,
              min_frequency: int = 2) -> BPETokenizer:
        """Train on ``texts`` (uses every core through the Rust library).

        Raises:
            ImportError: the tokenizers library is not installed.
        """
        tk = _tokenizers()
        tok = tk.Tokenizer(tk.models.BPE())
        tok.pre_tokenizer = tk.pre_tokenizers.ByteLevel(add_prefix_space=False)
        tok.decoder = tk.decoders.ByteLevel()
        trainer = tk.trainers.BpeTrainer(
            vocab_size=vocab_size, min_frequency=min_frequency, special_tokens=[EOS],
            initial_alphabet=tk.pre_tokenizers.ByteLevel.alphabet(), show_progress=False,
        )
        tok.train_from_iterator(texts, trainer=trainer)
        return cls(tok)

    @classmethod
    def load(cls, path: str | Path) -> BPETokenizer:
        """Load a tokenizer.json file."""
        return cls(_tokenizers().Tokenizer.from_file(str(path)))

    def save(self, directory: str | Path) -> Path:
        """Write ``directory/tokenizer.json`` atomically and return its path."""
        path = Path(directory) / BPE_FILE
        atomic_write_text(path, self._tok.to_str())
        return path

    def encode(self, text: str) -> list[int]:
        """Token ids of ``text``."""
        return self._tok.encode(text, add_special_tokens=False).ids

    def encode_batch(self, texts: list[str]) -> list[list[int]]:
        """Token ids of each text (parallel in the Rust library)."""
        return [e.ids for e in self._tok.encode_batch(texts, add_special_tokens=False)]

    def decode(self, ids: list[int]) -> str:
        """Text of ``ids`` (the end-of-text token decodes to nothing)."""
        return self._tok.decode(list(ids), skip_special_tokens=True)


class CharTokenizer:
    """One token per character; characters outside the vocabulary become ``<unk>``."""

    kind = "char"

    def __init__(self, tokens: list[str]) -> None:
        """Build from the token list (``tokens[0]`` is EOS, ``tokens[1]`` is UNK).

        Raises:
            ValueError: the list does not start with the two special tokens or repeats one.
        """
        if tokens[:2] != [EOS, UNK] or len(set(tokens)) != len(tokens):
            raise ValueError("a character vocabulary must start with "
                             f"[{EOS!r}, {UNK!r}] and hold no repeats")
        self.tokens = list(tokens)
        self.ids = {t: i for i, t in enumerate(tokens)}
        self.vocab_size = len(tokens)
        self.eos_id = 0
        self.unk_id = 1

    @classmethod
    def train(cls, texts: Iterable[str], vocab_size: int,
              min_frequency: int = 1) -> CharTokenizer:
        """Keep the ``vocab_size - 2`` most frequent characters seen ``min_frequency``+ times.

        Ties are broken by code point so training is deterministic.
        """
        counts: Counter[str] = Counter()
        for t in texts:
            counts.update(t)
        ranked = sorted((c for c, n in counts.items() if n >= min_frequency),
                        key=lambda c: (-counts[c], c))
        return cls([EOS, UNK] + ranked[: max(vocab_size - 2, 0)])

    @classmethod
    def load(cls, path: str | Path) -> CharTokenizer:
        """Load a vocab.json file.

        Raises:
            ValueError: the file is not a character vocabulary.
        """
        data = json.loads(Path(path).read_text(encoding="utf-8"))
        if not isinstance(data, dict) or data.get("kind") != "char":
            raise ValueError(f"{path} is not a zili character vocabulary")
        return cls(data["tokens"])

    def save(self, directory: str | Path) -> Path:
        """Write ``directory/vocab.json`` atomically and return its path."""
        path = Path(directory) / CHAR_FILE
        atomic_write_text(path, json.dumps({"kind": "char", "tokens": self.tokens},
                                            ensure_ascii=False))
        return path

    def encode(self, text: str) -> list[int]:
        """Token ids of ``text``, one per character."""
        get = self.ids.get
        return [get(c, 1) for c in text]

    def encode_batch(self, texts: list[str]) -> list[list[int]]:
        """Token ids of each text."""
        return [self.encode(t) for t in texts]

    def decode(self, ids: list[int]) -> str:
        """Text of ``ids``; EOS decodes to nothing, UNK to U+FFFD."""
        return "".join("\ufffd" if i == 1 else self.tokens[i] for i in ids if i != 0)


def train_tokenizer(texts: Iterable[str], kind: str, vocab_size: int,
                    min_frequency: int = 2) -> BPETokenizer | CharTokenizer:
    """Train a tokenizer of ``kind`` ("bpe" or "char").

    Raises:
        ValueError: unknown kind.
    """
    if kind == "bpe":
        return BPETokenizer.train(texts, vocab_size, min_frequency)
    if kind == "char":
        return CharTokenizer.train(texts, vocab_size, min_frequency)
    raise ValueError(f"unknown tokenizer kind {kind!r}; use 'bpe' or 'char'")


def load_tokenizer(directory: str | Path) -> BPETokenizer | CharTokenizer:
    """Open the tokenizer in a build folder: tokenizer.json (BPE) or vocab.json (char).

    Raises:
        FileNotFoundError: neither file is there.
    """
    d = Path(directory)
    if (d / BPE_FILE).is_file():
        return BPETokenizer.load(d / BPE_FILE)
    if (d / CHAR_FILE).is_file():
        return CharTokenizer.load(d / CHAR_FILE)
    raise FileNotFoundError(f"no {BPE_FILE} or {CHAR_FILE} in {d}; "
                            "build the folder with `zili data build SRC --out DIR`")
