"""ShardLoader and iterate_windows: shapes, shift, determinism, resume, coverage."""

import json

import numpy as np
import pytest

from zili.data.loader import ShardLoader, iterate_windows
from zili.data.shards import write_shard


@pytest.fixture
def folder(tmp_path):
    # two train shards holding consecutive integers, so any window is recognisable
    write_shard(tmp_path / "train_00000.bin", np.arange(0, 100))
    write_shard(tmp_path / "train_00001.bin", np.arange(1000, 1050))
    write_shard(tmp_path / "val_00000.bin", np.arange(5000, 5023))
    return tmp_path


def test_batches_are_real_windows(folder):
    ld = ShardLoader(folder, "train", context=8, batch_size=16, seed=3)
    assert ld.num_tokens == 150
    seen_second = False
    for _ in range(20):
        x, y = ld.next_batch()
        assert x.shape == y.shape == (16, 8) and x.dtype == y.dtype == np.int64
        assert np.array_equal(y[:, :-1], x[:, 1:])
        assert np.array_equal(y[:, -1], x[:, -1] + 1)  # consecutive: never crosses a shard
        assert np.all(np.diff(x, axis=1) == 1)
        starts = x[:, 0]  # valid starts: 0..91 in the first shard, 1000..1041 in the second
        assert np.all(((starts >= 0) & (starts <= 91)) | ((starts >= 1000) & (starts <= 1041)))
        seen_second |= bool(np.any(starts >= 1000))
    assert seen_second


def test_deterministic_and_resumable(folder):
    a = ShardLoader(folder, "train", 8, 4, seed=1)
    first = [a.next_batch()[0] for _ in range(5)]
    state = json.loads(json.dumps(a.state_dict()))
    rest = [a.next_batch()[0] for _ in range(5)]
    b = ShardLoader(folder, "train", 8, 4, seed=1)
    assert all(np.array_equal(p, q) for p, q in zip(first, [b.next_batch()[0]
                                                            for _ in range(5)]))
    c = ShardLoader(folder, "train", 8, 4, seed=99)
    c.load_state_dict(state)
    assert all(np.array_equal(p, q) for p, q in zip(rest, [c.next_batch()[0]
                                                           for _ in range(5)]))
    d = ShardLoader(folder, "train", 8, 4, seed=2)
    assert not np.array_equal(first[0], d.next_batch()[0])
    with pytest.raises(ValueError, match="context=8"):
        ShardLoader(folder, "train", 16, 4).load_state_dict(state)


def test_iterate_windows_covers_split_once(folder):
    batches = list(iterate_windows(folder, "val", context=5, batch_size=2))
    xs = np.concatenate([x for x, _ in batches])
    ys = np.concatenate([y for _, y in batches])
    # 23 tokens: windows start at 0, 5, 10, 15 (the one at 20 lacks a target)
    assert [len(x) for x, _ in batches] == [2, 2]
    assert xs[:, 0].tolist() == [5000, 5005, 5010, 5015]
    assert np.array_equal(ys, xs + 1)
    train = np.concatenate([x for x, _ in iterate_windows(folder, "train", 10, 3)])
    assert train[:, 0].tolist() == list(range(0, 90, 10)) + list(range(1000, 1040, 10))


def test_errors(folder, tmp_path):
    with pytest.raises(ValueError, match="no shard with 65 tokens"):
        ShardLoader(folder, "val", 64, 1)
    with pytest.raises(FileNotFoundError, match="no train shards"):
        ShardLoader(tmp_path / "nothing", "train", 4, 1)
    with pytest.raises(ValueError, match="split must be one of"):
        ShardLoader(folder, "test", 4, 1)
    raw = (folder / "train_00001.bin").read_bytes()
    (folder / "train_00001.bin").write_bytes(raw[:-1])
    with pytest.raises(ValueError, match="train_00001.bin is truncated"):
        ShardLoader(folder, "train", 4, 1)
