"""Shard files: round trips, and every kind of damage refused with a clear error."""

import struct

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from zili.data.shards import HEADER_SIZE, ShardError, read_shard, write_shard


@settings(max_examples=50, deadline=None)
@given(st.lists(st.integers(0, 2**32 - 1), max_size=300))
def test_round_trip(tmp_path_factory, values):
    path = tmp_path_factory.mktemp("s") / "train_00000.bin"
    ids = np.array(values, dtype=np.int64)
    write_shard(path, ids)
    back = read_shard(path)
    assert np.array_equal(np.asarray(back, dtype=np.int64), ids)
    want = 2 if not values or max(values) < 65536 else 4
    assert back.dtype.itemsize == want
    assert path.stat().st_size == HEADER_SIZE + want * len(values)


def test_header_layout(tmp_path):
    p = tmp_path / "a.bin"
    write_shard(p, np.array([1, 2, 3]), dtype="uint16")
    raw = p.read_bytes()
    magic, version, code, count = struct.unpack("<8sIIQ", raw[:24])
    assert (magic, version, code, count) == (b"ZILITOK\0", 1, 2, 3)
    import hashlib

    assert raw[24:56] == hashlib.sha256(raw[64:]).digest()
    assert raw[64:] == np.array([1, 2, 3], dtype="<u2").tobytes()
    assert [x.name for x in tmp_path.iterdir()] == ["a.bin"]  # no temporary file left


@pytest.fixture
def shard(tmp_path):
    p = tmp_path / "train_00000.bin"
    write_shard(p, np.arange(1000) % 500)
    return p


def test_truncated(shard):
    shard.write_bytes(shard.read_bytes()[:-2])
    with pytest.raises(ShardError, match=r"train_00000.bin is truncated"):
        read_shard(shard)
    shard.write_bytes(shard.read_bytes()[:10])
    with pytest.raises(ValueError, match="shorter than the 64-byte header"):
        read_shard(shard)


def test_extended(shard):
    shard.write_bytes(shard.read_bytes() + b"\0\0")
    with pytest.raises(ShardError, match="longer than its header says"):
        read_shard(shard)


def test_altered_payload(shard):
    raw = bytearray(shard.read_bytes())
    raw[HEADER_SIZE + 100] ^= 1
    shard.write_bytes(bytes(raw))
    with pytest.raises(ShardError, match="altered: its sha256 does not match"):
        read_shard(shard)
    assert len(read_shard(shard, verify=False)) == 1000


@pytest.mark.parametrize("offset, value, match", [
    (0, b"NOTASHRD", "is not a zili token shard"),
    (8, struct.pack("<I", 9), "format version 9"),
    (12, struct.pack("<I", 3), "unknown dtype code 3"),
])
def test_bad_header(shard, offset, value, match):
    raw = bytearray(shard.read_bytes())
    raw[offset:offset + len(value)] = value
    shard.write_bytes(bytes(raw))
    with pytest.raises(ShardError, match=match):
        read_shard(shard)


def test_write_refuses_bad_ids(tmp_path):
    with pytest.raises(ValueError, match="non-negative"):
        write_shard(tmp_path / "a.bin", np.array([1, -1]))
    with pytest.raises(ValueError, match="1-D"):
        write_shard(tmp_path / "a.bin", np.zeros((2, 2), dtype=np.int64))
    with pytest.raises(ValueError, match="does not fit in uint16"):
        write_shard(tmp_path / "a.bin", np.array([70000]), dtype="uint16")
    assert list(tmp_path.iterdir()) == []


def test_failed_write_keeps_old_file(tmp_path, monkeypatch):
    p = tmp_path / "a.bin"
    write_shard(p, np.array([7, 8, 9]))

    def boom(fd):
        raise OSError("disk full")

    monkeypatch.setattr("zili.files.os.fsync", boom)
    with pytest.raises(OSError, match="disk full"):
        write_shard(p, np.array([1, 2]))
    monkeypatch.undo()
    assert read_shard(p).tolist() == [7, 8, 9]
    assert [x.name for x in tmp_path.iterdir()] == ["a.bin"]
