"""zili.files.atomic_write: whole file or old file, never a partial one or a stray temp."""

import os

import pytest

from zili.files import atomic_write, atomic_write_text


def test_writes_pieces_and_replaces(tmp_path):
    target = tmp_path / "sub" / "f.bin"
    atomic_write(target, [b"ab", b"", b"cd"])
    assert target.read_bytes() == b"abcd"
    atomic_write_text(target, "自立")
    assert target.read_text(encoding="utf-8") == "自立"
    assert sorted(p.name for p in target.parent.iterdir()) == ["f.bin"]


def test_failure_keeps_old_file_and_leaves_no_temp(tmp_path, monkeypatch):
    target = tmp_path / "f.bin"
    atomic_write(target, b"old")

    def failing_fsync(fd):
        raise OSError("disk full")

    monkeypatch.setattr(os, "fsync", failing_fsync)
    with pytest.raises(OSError, match="disk full"):
        atomic_write(target, b"new contents")
    monkeypatch.undo()
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["f.bin"]
