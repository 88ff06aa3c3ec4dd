"""Batches for data-parallel ranks: one global stream, cut into disjoint per-rank rows.

Global batch ``k`` (``world_size * batch_size`` windows) is what a single process with that
batch size would draw; rank ``r`` trains on rows ``[r*batch_size, (r+1)*batch_size)`` of it.
So the ranks never share a window, the global batch order is the same for any world size,
and one loader position (the global batch count) resumes every rank.
"""

from __future__ import annotations

from typing import Any

import numpy as np


class RankBatches:
    """Rank ``rank``'s rows of the global batches of ``loader`` (built with the global
    batch size; its ``next_batch(rows=...)`` reads only the rows asked for), with the
    loader's ``next_batch``/``state_dict``/``load_state_dict``.

    Raises:
        ValueError: the loader's batch size is not ``world_size`` times a whole number.
    """

    def __init__(self, loader: Any, rank: int, world_size: int) -> None:
        if loader.batch_size % world_size:
            raise ValueError(f"a global batch of {loader.batch_size} windows cannot be split "
                             f"over {world_size} ranks; choose a batch size divisible by it")
        self.loader, self.rank, self.world_size = loader, rank, world_size
        self.batch_size = loader.batch_size // world_size

    def next_batch(self) -> tuple[np.ndarray, np.ndarray]:
        """This rank's (x, y) rows of the next global batch."""
        rows = slice(self.rank * self.batch_size, (self.rank + 1) * self.batch_size)
        return self.loader.next_batch(rows=rows)  # reads this rank's windows only

    def state_dict(self) -> dict[str, Any]:
        """The global stream's position (the same on every rank)."""
        return self.loader.state_dict()

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Continue the global stream from ``state``."""
        self.loader.load_state_dict(state)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.loader, name)
