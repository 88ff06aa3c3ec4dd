"""Stream training windows from token shards by memory map.

:class:`ShardLoader` draws random windows of ``context + 1`` tokens; batch ``k`` is drawn
from a generator seeded with ``(seed, k)``, so the stream depends only on the seed and
the position, and resuming from :meth:`ShardLoader.state_dict` continues exactly.
:func:`iterate_windows` walks every non-overlapping window of a split once, in order,
for deterministic evaluation. Windows never cross a shard boundary. :class:`ArrayLoader`
and :func:`array_windows` do the same over an id array held in memory (the demo corpus).
"""

from __future__ import annotations

import bisect
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from zili.data.shards import read_shard

SPLITS = ("train", "val")


def shard_paths(directory: str | Path, split: str) -> list[Path]:
    """Sorted shard files ``{split}_NNNNN.bin`` of a build folder.

    Raises:
        ValueError: unknown split.
        FileNotFoundError: the folder has no shard for the split.
    """
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    paths = sorted(Path(directory).glob(f"{split}_*.bin"))
    if not paths:
        raise FileNotFoundError(f"no {split} shards ({split}_*.bin) in {directory}; "
                                "build them with `zili data build SRC --out DIR`")
    return paths


def _check_sizes(context: int, batch_size: int) -> None:
    if context < 1 or batch_size < 1:
        raise ValueError(f"context and batch_size must be >= 1, got {context}, {batch_size}")


class ShardLoader:
    """Random (x, y) batches of token windows from one split of a build folder."""

    def __init__(self, directory: str | Path, split: str, context: int, batch_size: int,
                 seed: int = 0) -> None:
        """Open and verify the split's shards.

        Raises:
            FileNotFoundError: no shards for the split.
            ShardError: a shard is truncated or altered.
            ValueError: no shard holds ``context + 1`` tokens.
        """
        _check_sizes(context, batch_size)
        self.directory = str(directory)
        self.split = split
        self.context = context
        self.batch_size = batch_size
        self.seed = seed
        self.step = 0
        self.shards = [read_shard(p) for p in shard_paths(directory, split)]
        self.num_tokens: int = sum(len(s) for s in self.shards)
        # number of valid window starts in each shard, and their running total
        starts = [max(len(s) - context, 0) for s in self.shards]
        self._cum = np.cumsum(starts).tolist()
        if not self._cum or self._cum[-1] == 0:
            raise ValueError(
                f"the {split} split of {directory} has no shard with {context + 1} tokens "
                f"(largest: {max(len(s) for s in self.shards)}); use a shorter context "
                "or more data"
            )

    def next_batch(self, rows: slice | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Return (x, y), int64 arrays of shape (batch_size, context); y is x shifted by one.
        ``rows`` reads only those rows of the batch (a data-parallel rank's share): the
        stream is the same, the other windows are not read."""
        rng = np.random.default_rng([self.seed, self.step])
        self.step += 1
        picks = rng.integers(0, self._cum[-1], size=self.batch_size)
        if rows is not None:
            picks = picks[rows]
        x = np.empty((len(picks), self.context), dtype=np.int64)
        y = np.empty((len(picks), self.context), dtype=np.int64)
        for row, p in enumerate(picks.tolist()):
            k = bisect.bisect_right(self._cum, p)
            off = p - (self._cum[k - 1] if k else 0)
            win = self.shards[k][off:off + self.context + 1]
            x[row] = win[:-1]
            y[row] = win[1:]
        return x, y

    def state_dict(self) -> dict[str, Any]:
        """Position in the stream, JSON-serialisable, for :meth:`load_state_dict`."""
        return {"split": self.split, "seed": self.seed, "step": self.step,
                "context": self.context, "batch_size": self.batch_size}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Continue from a saved position.

        Raises:
            ValueError: the state was saved by a loader with another split, context or
                batch size (its stream would not be the same one).
        """
        for key in ("split", "context", "batch_size"):
            if key in state and state[key] != getattr(self, key):
                raise ValueError(f"loader state has {key}={state[key]!r} but this loader "
                                 f"has {key}={getattr(self, key)!r}")
        self.seed = int(state["seed"])
        self.step = int(state["step"])


def iterate_windows(directory: str | Path, split: str, context: int,
                    batch_size: int) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Yield every non-overlapping window of a split once, in order, as (x, y) batches.

    Window ``i`` of a shard covers tokens ``[i*context, (i+1)*context]`` (inclusive, for
    the shifted target). The last batch may hold fewer than ``batch_size`` rows.

    Raises:
        FileNotFoundError / ShardError: as for :class:`ShardLoader`.
    """
    _check_sizes(context, batch_size)
    xs: list[np.ndarray] = []
    ys: list[np.ndarray] = []
    for path in shard_paths(directory, split):
        arr = read_shard(path)
        for start in range(0, len(arr) - context, context):
            win = np.asarray(arr[start:start + context + 1], dtype=np.int64)
            xs.append(win[:-1])
            ys.append(win[1:])
            if len(xs) == batch_size:
                yield np.stack(xs), np.stack(ys)
                xs, ys = [], []
    if xs:
        yield np.stack(xs), np.stack(ys)


class ArrayLoader:
    """Random (x, y) windows from an id array, with ShardLoader's interface.

    Batch ``k`` is drawn from a NumPy generator seeded with (seed, k), so the stream
    depends only on the seed and the position, and a checkpoint resumes it exactly.
    """

    def __init__(self, tokens: np.ndarray, context: int, batch_size: int, seed: int = 0):
        if len(tokens) < context + 2:
            raise ValueError(f"ArrayLoader: {len(tokens)} tokens are too few for windows of "
                             f"context {context}; use a smaller --context or more text")
        self.tokens, self.context, self.batch_size = tokens, context, batch_size
        self.seed, self.position = seed, 0
        self.num_tokens = len(tokens)

    def next_batch(self, rows: slice | None = None) -> tuple[np.ndarray, np.ndarray]:
        """The next (x, y) pair, int64 arrays of shape (batch_size, context); ``rows`` reads
        only those rows (a data-parallel rank's share of the same stream)."""
        rng = np.random.default_rng([self.seed, self.position])
        self.position += 1
        starts = rng.integers(0, len(self.tokens) - self.context - 1, size=self.batch_size)
        if rows is not None:
            starts = starts[rows]
        rows = starts[:, None] + np.arange(self.context + 1)[None, :]
        window = self.tokens[rows]
        return window[:, :-1], window[:, 1:]

    def state_dict(self) -> dict[str, Any]:
        """Seed and position, JSON-friendly."""
        return {"seed": self.seed, "position": self.position}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Continue from a :meth:`state_dict`."""
        self.seed, self.position = int(state["seed"]), int(state["position"])


def array_windows(tokens: np.ndarray, context: int, batch_size: int,
                  max_batches: int | None = None) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Non-overlapping (x, y) windows of ``tokens`` in order, for deterministic evaluation."""
    count = (len(tokens) - 1) // context
    starts = np.arange(count) * context
    for b, first in enumerate(range(0, count, batch_size)):
        if max_batches is not None and b >= max_batches:
            return
        rows = starts[first:first + batch_size, None] + np.arange(context + 1)[None, :]
        window = tokens[rows]
        yield window[:, :-1], window[:, 1:]
