"""The safetensors file format, read and written directly (no pickle, no framework).

Layout: 8-byte little-endian header length N, N bytes of JSON header
({name: {"dtype", "shape", "data_offsets": [begin, end]}, "__metadata__": {str: str}}),
then the tensor bytes. Writing it here (rather than through ``safetensors.numpy``) lets
bfloat16 be stored as the standard "BF16" type that every other reader understands.
Every structural problem is reported as ``ValueError`` naming the file.
"""

from __future__ import annotations

import json
import os
import struct
from collections.abc import Mapping

import ml_dtypes
import numpy as np

CODES = {"F64": np.dtype(np.float64), "F32": np.dtype(np.float32),
         "F16": np.dtype(np.float16), "BF16": np.dtype(ml_dtypes.bfloat16),
         "I64": np.dtype(np.int64), "I32": np.dtype(np.int32), "I16": np.dtype(np.int16),
         "I8": np.dtype(np.int8), "U8": np.dtype(np.uint8), "BOOL": np.dtype(np.bool_),
         "U16": np.dtype(np.uint16), "U32": np.dtype(np.uint32), "U64": np.dtype(np.uint64)}
_CODE_OF = {v: k for k, v in CODES.items()}
_MAX_HEADER = 100 * 1024 * 1024  # a larger header means this is not a safetensors file


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


def read_header(path: str | os.PathLike) -> tuple[dict[str, dict], dict[str, str], int]:
    """(tensor entries, metadata, byte offset of the data) after checking that the header is
    well formed and that every tensor lies inside the file.

    Raises:
        ValueError: naming the file, for a foreign, truncated or corrupted file.
    """
    size = os.path.getsize(path)
    with open(path, "rb") as f:
        prefix = f.read(8)
        if len(prefix) < 8:
            raise ValueError(f"{path}: not a safetensors file (only {size} bytes; the file is "
                             "empty or truncated)")
        (length,) = struct.unpack("<Q", prefix)
        if length > _MAX_HEADER:
            raise ValueError(f"{path}: not a safetensors file (header length field reads "
                             f"{length} bytes); is it another format?")
        if 8 + length > size:
            raise ValueError(f"{path}: truncated safetensors file: the header needs "
                             f"{8 + length} bytes but the file has {size}")
        raw = f.read(length)
    try:
        header = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ValueError(f"{path}: not a safetensors file or its header is corrupted "
                         f"({e})") from None
    if not isinstance(header, dict):
        raise ValueError(f"{path}: safetensors header is not a JSON object; file corrupted")
    metadata = header.pop("__metadata__", None) or {}
    data_start = 8 + length
    end_max = 0
    for name, entry in header.items():
        try:
            dtype = CODES[entry["dtype"]]
            shape = [int(s) for s in entry["shape"]]
            begin, end = (int(o) for o in entry["data_offsets"])
        except (KeyError, TypeError, ValueError):
            raise ValueError(f"{path}: safetensors entry {name!r} is malformed or has an "
                             f"unsupported dtype: {entry!r}") from None
        if end - begin != int(np.prod(shape, dtype=np.int64)) * dtype.itemsize or begin < 0:
            raise ValueError(f"{path}: safetensors entry {name!r} has offsets {begin}..{end} "
                             f"that do not fit its shape {shape} and dtype {entry['dtype']}")
        end_max = max(end_max, end)
    if data_start + end_max > size:
        raise ValueError(f"{path}: truncated safetensors file: tensors need "
                         f"{data_start + end_max} bytes but the file has {size}")
    return header, metadata, data_start


