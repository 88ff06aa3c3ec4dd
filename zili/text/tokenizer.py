"""Tokenizers: byte-level BPE (``tokenizers`` library, tokenizer.json) or characters.

Both kinds reserve id 0 for ``<|endoftext|>``, which separates documents in shards.
The character kind also has ``<unk>`` (id 1) for characters outside its vocabulary and
is stored as vocab.json: ``{"kind": "char", "tokens": [...]}`` (token i has id i).
:func:`load_tokenizer` opens either kind from a build folder.

Loading trusts nothing in the file: it is parsed with :mod:`zili.safejson`, its regexes are
checked by :mod:`zili.text.regex_guard` (a backtracking regex would hang every encode), and
whatever the ``tokenizers`` library raises on a malformed file becomes one
:class:`TokenizerError` (a ``ValueError``) naming the file.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Protocol

from zili import safejson
from zili.files import atomic_write_text
from zili.text.regex_guard import backtracking_risk, find_regexes

MAX_FILE = 256 * 1024 * 1024  # bytes; the largest published tokenizer.json is ~30 MB
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


class TokenizerError(ValueError):
    """A tokenizer file that is malformed, refused (a dangerous regex) or not a tokenizer;
    the message names the file."""


def _read_text(path: str | Path) -> str:
    """The file's text, refusing a huge or non-UTF-8 file with a TokenizerError."""
    p = Path(path)
    try:
        size = p.stat().st_size
        if size > MAX_FILE:
            raise TokenizerError(f"{p}: tokenizer file is {size} bytes (at most {MAX_FILE})")
        return p.read_bytes().decode("utf-8")
    except UnicodeDecodeError as e:
        raise TokenizerError(f"{p}: tokenizer file is not UTF-8 (byte {e.start})") from None


def _parse(text: str, name: str, max_depth: int = 24) -> Any:
    try:
        return safejson.loads(text, max_depth=max_depth)
    except safejson.JSONError as e:
        raise TokenizerError(f"{name}: not a tokenizer file ({e})") from None


def check_tokenizer_json(text: str, name: str) -> dict[str, Any]:
    """Parse the text of a tokenizer.json (any origin: a build, a checkpoint, a downloaded
    model) and refuse it before the ``tokenizers`` library sees it if it is malformed or
    carries a regex that could backtrack exponentially; returns the parsed JSON.

    Raises:
        TokenizerError: naming ``name`` and the problem.
    """
    data = _parse(text, name)
    if not isinstance(data, dict) or not isinstance(data.get("model"), dict):
        raise TokenizerError(f"{name}: not a tokenizer.json (no model object)")
    for pattern in find_regexes(data):
        why = backtracking_risk(pattern)
        if why is not None:
            raise TokenizerError(f"{name}: refusing regex {pattern[:60]!r}: {why}, so "
                                 "encoding could take time exponential in the text length")
    return data


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
        """Load a tokenizer.json file.

        Raises:
            TokenizerError: naming the file, if it is malformed or has a regex that could
                backtrack exponentially.
        """
        return cls.from_text(_read_text(path), str(path))

    @classmethod
    def from_text(cls, text: str, name: str) -> BPETokenizer:
        """Load the text of a tokenizer.json (``name`` says where it came from in errors).

        Raises:
            TokenizerError: as :meth:`load`.
        """
        check_tokenizer_json(text, name)
        tk = _tokenizers()
        try:
            tok = tk.Tokenizer.from_str(text)
            eos = tok.token_to_id(EOS)
        except Exception as e:  # the Rust library raises plain Exception with its message
            raise TokenizerError(f"{name}: the tokenizers library cannot load it: "
                                 f"{str(e)[:200]}") from None
        if eos is None:
            raise TokenizerError(f"{name}: the vocabulary has no {EOS!r} token, which zili "
                                 "uses to separate documents")
        return cls(tok)

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
            TokenizerError: naming the file, if it is not a character vocabulary.
        """
        return cls.from_text(_read_text(path), str(path))

    @classmethod
    def from_text(cls, text: str, name: str) -> CharTokenizer:
        """Load the text of a vocab.json (``name`` says where it came from in errors).

        Raises:
            TokenizerError: as :meth:`load`.
        """
        data = _parse(text, name, max_depth=2)
        tokens = data.get("tokens") if isinstance(data, dict) else None
        if not isinstance(data, dict) or data.get("kind") != "char" \
                or not isinstance(tokens, list) or not all(isinstance(t, str) for t in tokens):
            raise TokenizerError(f"{name} is not a zili character vocabulary "
                                 '({"kind": "char", "tokens": [strings]})')
        try:
            return cls(tokens)
        except ValueError as e:
            raise TokenizerError(f"{name}: {e}") from None

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


def _recorded_sha256(directory: Path, name: str) -> str | None:
    """The sha256 the folder's manifest.json records for tokenizer file ``name``, if any
    (builds before it was recorded have none)."""
    manifest = directory / "manifest.json"
    if not manifest.is_file():
        return None
    try:
        data = safejson.loads(manifest.read_bytes(), max_depth=64)
    except safejson.JSONError as e:
        raise TokenizerError(f"{manifest}: the build's manifest is corrupted ({e}), so its "
                             "tokenizer cannot be checked; rebuild the folder") from None
    entry = data.get("tokenizer") if isinstance(data, dict) else None
    if isinstance(entry, dict) and entry.get("file") == name:
        digest = entry.get("sha256")
        return digest if isinstance(digest, str) else None
    return None


def load_tokenizer(directory: str | Path) -> BPETokenizer | CharTokenizer:
    """Open the tokenizer in a build folder: tokenizer.json (BPE) or vocab.json (char),
    checked against the sha256 the folder's manifest.json records for it.

    Raises:
        FileNotFoundError: neither file is there.
        TokenizerError: the file is malformed (see :meth:`BPETokenizer.load`) or does not
            match the manifest's sha256.
    """
    d = Path(directory)
    for name, cls in ((BPE_FILE, BPETokenizer), (CHAR_FILE, CharTokenizer)):
        path = d / name
        if path.is_file():
            text = _read_text(path)
            recorded = _recorded_sha256(d, name)
            if recorded is not None and \
                    hashlib.sha256(text.encode("utf-8")).hexdigest() != recorded:
                raise TokenizerError(f"{path}: does not match the sha256 recorded in "
                                     f"{d / 'manifest.json'} (the file was altered or "
                                     "damaged); rebuild with `zili data build`")
            return cls.from_text(text, str(path))
    raise FileNotFoundError(f"no {BPE_FILE} or {CHAR_FILE} in {d}; "
                            "build the folder with `zili data build SRC --out DIR`")


def tokenizer_from_text(text: str, file_name: str, where: str) -> BPETokenizer | CharTokenizer:
    """The tokenizer whose file ``file_name`` (tokenizer.json or vocab.json) held ``text``,
    e.g. the copy embedded in a checkpoint; ``where`` names it in errors.

    Raises:
        TokenizerError: unknown file name, or a malformed file.
    """
    if file_name == BPE_FILE:
        return BPETokenizer.from_text(text, where)
    if file_name == CHAR_FILE:
        return CharTokenizer.from_text(text, where)
    raise TokenizerError(f"{where}: unknown tokenizer file {file_name[:40]!r} (expected "
                         f"{BPE_FILE} or {CHAR_FILE})")
