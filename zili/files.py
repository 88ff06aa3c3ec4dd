"""Atomic file writes, shared by every layer that writes files (checkpoints, token shards,
tokenizers, reports, the kernel cache).

A file is written to a temporary name in its folder, flushed and fsynced, then renamed over
the target, and the folder entry is fsynced too: a crash leaves either the old file or the
new one, never half of one, and no temporary file stays behind after an error.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterable
from pathlib import Path


def atomic_write(path: str | os.PathLike[str], data: bytes | Iterable[bytes]) -> None:
    """Write ``data`` (bytes, or pieces written one after another) to ``path`` atomically.

    Raises:
        OSError: from the file system (the target is then left as it was).
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    pieces = [data] if isinstance(data, (bytes, bytearray, memoryview)) else data
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            for piece in pieces:
                handle.write(piece)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    try:  # the rename is durable only once the folder entry is on disk
        folder = os.open(target.parent, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(folder)
    except OSError:
        pass  # some file systems refuse fsync on folders; the data itself is synced
    finally:
        os.close(folder)


def atomic_write_text(path: str | os.PathLike[str], text: str) -> None:
    """:func:`atomic_write` of ``text`` encoded as UTF-8."""
    atomic_write(path, text.encode("utf-8"))
