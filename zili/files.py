"""Atomic file writes, shared by every layer that writes files (checkpoints, token shards,
tokenizers, reports, the kernel cache).

A file is written to a temporary name in its folder, flushed and fsynced, then renamed over
the target, and the folder entry is fsynced too: a crash leaves either the old file or the
new one, never half of one, and no temporary file stays behind after an error. The file
gets the permissions any new file of the user's gets (0666 less the umask), unless the
caller asks for a mode (the kernel cache keeps its objects private).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterable
from pathlib import Path


def current_umask() -> int:
    """The process's umask (read from /proc where there is one: setting it to read it
    would race with other threads creating files)."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def atomic_write(path: str | os.PathLike[str], data: bytes | Iterable[bytes],
                 mode: int | None = None) -> None:
    """Write ``data`` (bytes, or pieces written one after another) to ``path`` atomically,
    with permissions ``mode`` (default: 0666 less the umask, as ``open`` would give).

    Raises:
        OSError: from the file system (the target is then left as it was).
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    pieces = [data] if isinstance(data, (bytes, bytearray, memoryview)) else data
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            # mkstemp makes the file 0600 whatever the umask; give it what open() would
            os.fchmod(handle.fileno(), mode if mode is not None else 0o666 & ~current_umask())
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
