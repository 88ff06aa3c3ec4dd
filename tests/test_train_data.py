"""Per-rank batches (issue 13): ranks read disjoint rows of one global batch stream, so the
global batches are those of a single process for any world size, and one position resumes
every rank. Oracle: the single-process loader with the global batch size."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from zili.data.loader import ArrayLoader, ShardLoader
from zili.data.shards import write_shard
from zili.train import RankBatches


def _shards(folder: Path) -> Path:
    write_shard(folder / "train_00000.bin", np.arange(0, 300))
    write_shard(folder / "train_00001.bin", np.arange(1000, 1200))
    return folder


@pytest.mark.parametrize("kind", ["array", "shards"])
@given(world=st.sampled_from([1, 2, 3, 4]), per_rank=st.integers(1, 3), seed=st.integers(0, 99))
@settings(max_examples=15, deadline=None)
def test_ranks_cut_the_single_process_stream_into_disjoint_rows(
        kind: str, world: int, per_rank: int, seed: int, tmp_path_factory: pytest.TempPathFactory
) -> None:
    folder = _shards(tmp_path_factory.mktemp("shards"))

    def loader() -> object:
        if kind == "array":
            return ArrayLoader(np.arange(3000), 8, world * per_rank, seed=seed)
        return ShardLoader(folder, "train", 8, world * per_rank, seed=seed)

    single = loader()
    ranks = [RankBatches(loader(), r, world) for r in range(world)]
    for _ in range(3):
        x, y = single.next_batch()
        parts = [rank.next_batch() for rank in ranks]
        assert all(p[0].shape == (per_rank, 8) for p in parts)
        np.testing.assert_array_equal(np.concatenate([p[0] for p in parts]), x)
        np.testing.assert_array_equal(np.concatenate([p[1] for p in parts]), y)
    # One saved position resumes every rank (and a single process) at the same batch.
    state = ranks[0].state_dict()
    assert all(rank.state_dict() == state for rank in ranks)
    again = RankBatches(loader(), world - 1, world)
    again.load_state_dict(state)
    np.testing.assert_array_equal(again.next_batch()[0], ranks[-1].next_batch()[0])


def test_a_global_batch_the_world_size_does_not_divide_is_refused() -> None:
    with pytest.raises(ValueError, match="cannot be split over 4 ranks"):
        RankBatches(ArrayLoader(np.arange(100), 4, 6), 0, 4)
