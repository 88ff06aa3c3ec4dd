"""Token shard files: a 64-byte header and a little-endian array of token ids.

Header layout (all integers little-endian)::

    offset  size  field
    0       8     magic     b"ZILITOK\\0"
    8       4     version   uint32, currently 1
    12      4     dtype     uint32 code: 2 = uint16, 4 = uint32
    16      8     count     uint64, number of tokens
    24      32    checksum  sha256 of the payload bytes
    56      8     reserved  zeros

Writes are atomic (temporary file in the same folder, fsync, ``os.replace``), so a
reader sees either the whole old file or the whole new one. Reading checks the magic,
version, dtype, size and checksum and refuses a damaged file with a ValueError that
names the file and what is wrong.
"""

from __future__ import annotations

import hashlib
import struct
from pathlib import Path

import numpy as np

from zili.files import atomic_write

MAGIC = b"ZILITOK\0"
VERSION = 1
HEADER_SIZE = 64
_HEADER = struct.Struct("<8sIIQ32s8x")
_DTYPES = {2: np.dtype("<u2"), 4: np.dtype("<u4")}
_CODES = {np.dtype("uint16"): 2, np.dtype("uint32"): 4}


class ShardError(ValueError):
    """A shard file that is truncated, altered, or not a shard at all."""


def dtype_for_vocab(vocab_size: int) -> np.dtype:
    """Smallest shard dtype that holds ids below ``vocab_size``."""
    return np.dtype("uint16") if vocab_size <= 65536 else np.dtype("uint32")


def write_shard(path: str | Path, ids: np.ndarray, dtype: np.dtype | str | None = None) -> None:
    """Write token ``ids`` (1-D, non-negative integers) to ``path`` atomically.

    ``dtype`` is uint16 or uint32; by default uint16 when every id fits, else uint32.

    Raises:
        ValueError: ids is not 1-D, holds negative values or values too large for dtype.
    """
    path = Path(path)
    arr = np.asarray(ids)
    if arr.ndim != 1:
        raise ValueError(f"write_shard({path}): ids must be 1-D, got shape {arr.shape}")
    if arr.size and (not np.issubdtype(arr.dtype, np.integer) or int(arr.min()) < 0):
        raise ValueError(f"write_shard({path}): ids must be non-negative integers")
    top = int(arr.max()) if arr.size else 0
    dt = np.dtype(dtype) if dtype is not None else dtype_for_vocab(top + 1)
    if dt not in _CODES:
        raise ValueError(f"write_shard({path}): dtype must be uint16 or uint32, got {dt}")
    if top > np.iinfo(dt).max:
        raise ValueError(f"write_shard({path}): id {top} does not fit in {dt}")
    payload = arr.astype(_DTYPES[_CODES[dt]], copy=False).tobytes()
    header = _HEADER.pack(MAGIC, VERSION, _CODES[dt], arr.size,
                          hashlib.sha256(payload).digest())
    atomic_write(path, [header, payload])


def read_header(path: str | Path) -> tuple[np.dtype, int, bytes]:
    """Return (dtype, count, sha256 digest) from a shard's header, checking its size.

    Raises:
        ShardError: not a zili shard, unknown version or dtype, or truncated/extended.
    """
    path = Path(path)
    size = path.stat().st_size
    with open(path, "rb") as fh:
        raw = fh.read(HEADER_SIZE)
    if len(raw) < HEADER_SIZE:
        raise ShardError(f"shard {path} is truncated: {size} bytes, shorter than the "
                         f"{HEADER_SIZE}-byte header; rebuild it with `zili data build`")
    magic, version, code, count, digest = _HEADER.unpack(raw)
    if magic != MAGIC:
        raise ShardError(f"{path} is not a zili token shard (magic {magic!r}, "
                         f"expected {MAGIC!r})")
    if version != VERSION:
        raise ShardError(f"shard {path} has format version {version}; this zili reads "
                         f"version {VERSION}: rebuild it or upgrade zili")
    if code not in _DTYPES:
        raise ShardError(f"shard {path} has unknown dtype code {code}")
    dt = _DTYPES[code]
    expected = HEADER_SIZE + count * dt.itemsize
    if size != expected:
        what = "truncated" if size < expected else "longer than its header says"
        raise ShardError(f"shard {path} is {what}: {size} bytes, header promises "
                         f"{expected} ({count} tokens); rebuild it with `zili data build`")
    return dt, count, digest


def read_shard(path: str | Path, verify: bool = True) -> np.ndarray:
    """Memory-map the token ids of a shard (read-only), verifying its checksum.

    Raises:
        ShardError: the file is truncated, altered (checksum mismatch) or not a shard.
    """
    path = Path(path)
    dt, count, digest = read_header(path)
    if count == 0:
        return np.zeros(0, dtype=dt)
    arr = np.memmap(path, dtype=dt, mode="r", offset=HEADER_SIZE, shape=(count,))
    if verify:
        h = hashlib.sha256()
        step = 1 << 22  # hash in slices so a large shard is never copied whole
        for i in range(0, count, step):
            h.update(memoryview(np.ascontiguousarray(arr[i:i + step])).cast("B"))
        if h.digest() != digest:
            raise ShardError(f"shard {path} is altered: its sha256 does not match the "
                             f"header's checksum; rebuild it with `zili data build`")
    return arr
