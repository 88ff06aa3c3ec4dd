"""The safetensors file format, read and written directly (no pickle, no framework).

Layout: 8-byte little-endian header length N, N bytes of JSON header
({name: {"dtype", "shape", "data_offsets": [begin, end]}, "__metadata__": {str: str}}),
then the tensor bytes. Writing it here (rather than through ``safetensors.numpy``) lets
bfloat16 be stored as the standard "BF16" type that every other reader understands.
Every structural problem is reported as :class:`CheckpointError` (a ``ValueError``) naming
the file and the problem; nothing in a header is trusted before it is checked.
"""

from __future__ import annotations

import json
import math
import os
import struct
from collections.abc import Mapping

import ml_dtypes
import numpy as np

from zili import safejson

CODES = {"F64": np.dtype(np.float64), "F32": np.dtype(np.float32),
         "F16": np.dtype(np.float16), "BF16": np.dtype(ml_dtypes.bfloat16),
         "I64": np.dtype(np.int64), "I32": np.dtype(np.int32), "I16": np.dtype(np.int16),
         "I8": np.dtype(np.int8), "U8": np.dtype(np.uint8), "BOOL": np.dtype(np.bool_),
         "U16": np.dtype(np.uint16), "U32": np.dtype(np.uint32), "U64": np.dtype(np.uint64)}
_CODE_OF = {v: k for k, v in CODES.items()}
_MAX_HEADER = 100 * 1024 * 1024  # a larger header means this is not a safetensors file


class CheckpointError(ValueError):
    """A checkpoint or safetensors file that is truncated, altered, malformed or foreign;
    the message names the file and the problem."""


def encode(tensors: Mapping[str, np.ndarray], metadata: Mapping[str, str]) -> tuple[bytes,
                                                                                     list[bytes]]:
    """The header bytes (length prefix included) and the data chunks, in file order.

    Raises:
        TypeError: for an array dtype safetensors cannot hold.
    """
    header: dict[str, object] = {"__metadata__": dict(metadata)}
    chunks, offset = [], 0
    for name, array in tensors.items():
        code = _CODE_OF.get(array.dtype)
        if code is None:
            raise TypeError(f"safetensors: tensor {name!r} has dtype {array.dtype}, which the "
                            "format cannot store")
        data = np.ascontiguousarray(array).tobytes()
        header[name] = {"dtype": code, "shape": list(array.shape),
                        "data_offsets": [offset, offset + len(data)]}
        chunks.append(data)
        offset += len(data)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)  # keep the data 8-byte aligned, as the format advises
    return struct.pack("<Q", len(text)) + text, chunks


def parse_header(raw: bytes, data_size: int, path: str) -> tuple[dict[str, dict],
                                                                  dict[str, str]]:
    """Check a header's JSON ``raw`` against the safetensors rules and return (tensor entries,
    metadata). ``data_size`` is the number of bytes after the header.

    Every tensor must have a known dtype, a shape of non-negative integers, and offsets that
    match its size; together the tensors must tile the data exactly (no overlap, no hole,
    nothing after the last), as the format requires.

    Raises:
        CheckpointError: naming ``path`` and the first problem found.
    """
    try:
        header = safejson.loads(raw, max_depth=3)
    except safejson.JSONError as e:
        raise CheckpointError(f"{path}: not a safetensors file or its header is corrupted "
                              f"({e})") from None
    if not isinstance(header, dict):
        raise CheckpointError(f"{path}: safetensors header is not a JSON object; the file is "
                              "corrupted")
    metadata = header.pop("__metadata__", None)
    if metadata is None:
        metadata = {}
    if not isinstance(metadata, dict) or not all(isinstance(v, str) for v in metadata.values()):
        raise CheckpointError(f"{path}: safetensors __metadata__ must map strings to strings; "
                              "the header is corrupted")
    spans = []
    for name, entry in header.items():
        what = f"{path}: safetensors entry {name[:80]!r}"
        if not isinstance(entry, dict) or set(entry) != {"dtype", "shape", "data_offsets"}:
            raise CheckpointError(f"{what} must hold exactly dtype, shape and data_offsets; "
                                  "the header is corrupted")
        code, shape, offsets = entry["dtype"], entry["shape"], entry["data_offsets"]
        if not isinstance(code, str) or code not in CODES:
            raise CheckpointError(f"{what} has unknown dtype {str(code)[:40]!r} (known: "
                                  f"{', '.join(CODES)})")
        if not isinstance(shape, list) or len(shape) > 64 or not all(
                type(d) is int and 0 <= d < 1 << 62 for d in shape):
            raise CheckpointError(f"{what} has an invalid shape {str(shape)[:80]} (a list of at "
                                  "most 64 non-negative integers)")
        if not isinstance(offsets, list) or len(offsets) != 2 or not all(
                type(o) is int for o in offsets):
            raise CheckpointError(f"{what} has invalid data_offsets {str(offsets)[:80]} (two "
                                  "integers)")
        begin, end = offsets
        nbytes = math.prod(shape) * CODES[code].itemsize  # Python ints: no overflow
        if not 0 <= begin <= end or end - begin != nbytes:
            raise CheckpointError(f"{what} has offsets {begin}..{end} that do not fit its "
                                  f"shape {shape} and dtype {code} ({nbytes} bytes)")
        if end > data_size:
            raise CheckpointError(f"{path}: truncated safetensors file: tensor {name[:80]!r} "
                                  f"ends at data byte {end} but the file holds {data_size}")
        spans.append((begin, end, name))
    position = 0
    for begin, end, name in sorted(spans):
        if begin != position:
            problem = "overlaps the tensor before it" if begin < position else \
                f"leaves a hole of {begin - position} bytes before it"
            raise CheckpointError(f"{path}: safetensors entry {name[:80]!r} at {begin}..{end} "
                                  f"{problem}; the header is corrupted")
        position = end
    if position != data_size:
        raise CheckpointError(f"{path}: {data_size - position} bytes after the last tensor; the "
                              "file is corrupted or was extended")
    return header, metadata


def read_raw(path: str) -> tuple[bytes, bytes]:
    """(header bytes including the 8-byte length, data bytes) of a safetensors file, with the
    length field checked against the file size before anything large is read.

    Raises:
        FileNotFoundError: no file at ``path``.
        IsADirectoryError: ``path`` is a folder (the message says so).
        CheckpointError: the file is too short or its length field is impossible.
    """
    if os.path.isdir(path):
        raise IsADirectoryError(f"{path} is a directory, not a checkpoint file; pass the file "
                                "inside it (a run folder holds ckpt.safetensors)")
    with open(path, "rb") as f:
        size = os.fstat(f.fileno()).st_size
        prefix = f.read(8)
        if len(prefix) < 8:
            raise CheckpointError(f"{path}: not a safetensors file (only {size} bytes; the "
                                  "file is empty or truncated)")
        (length,) = struct.unpack("<Q", prefix)
        if length > _MAX_HEADER:
            raise CheckpointError(f"{path}: not a safetensors file (header length field reads "
                                  f"{length} bytes); is it another format?")
        if 8 + length > size:
            raise CheckpointError(f"{path}: truncated safetensors file: the header needs "
                                  f"{8 + length} bytes but the file has {size}")
        header = prefix + f.read(length)
        data = f.read(size - 8 - length)
    return header, data


def read_header(path: str | os.PathLike) -> tuple[dict[str, dict], dict[str, str], int]:
    """(tensor entries, metadata, byte offset of the data) after checking that the header is
    well formed and that the tensors tile the rest of the file.

    Raises:
        CheckpointError: naming the file, for a foreign, truncated or corrupted file.
    """
    path = os.fspath(path)
    if os.path.isdir(path):
        raise IsADirectoryError(f"{path} is a directory, not a checkpoint file; pass the file "
                                "inside it (a run folder holds ckpt.safetensors)")
    size = os.path.getsize(path)
    with open(path, "rb") as f:
        prefix = f.read(8)
        if len(prefix) < 8:
            raise CheckpointError(f"{path}: not a safetensors file (only {size} bytes; the "
                                  "file is empty or truncated)")
        (length,) = struct.unpack("<Q", prefix)
        if length > _MAX_HEADER or 8 + length > size:
            raise CheckpointError(f"{path}: not a safetensors file or truncated (header length "
                                  f"field reads {length} bytes, the file has {size})")
        raw = f.read(length)
    entries, metadata = parse_header(raw, size - 8 - length, path)
    return entries, metadata, 8 + length
