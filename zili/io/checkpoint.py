"""``zili.save`` / ``zili.load``: checkpoints as safetensors files, never pickle.

A checkpoint is any nesting of dicts (str or int keys), lists and tuples whose leaves are
Tensors, JSON values (None, bool, int, float, str) or dtypes. Tensors become safetensors
entries named by their dotted path (a flat ``state_dict`` keeps its own keys, so other
safetensors readers see the usual names); the nesting and the non-tensor values go, as JSON,
into the header's metadata, with the caller's ``metadata`` and a SHA-256 over the whole
file: every byte of the length field, the header (metadata included) and the data, with the
64 hex digits of the digest itself read as zeros. Files are written to a temporary file in
the same folder, fsynced and renamed, so a crash never leaves a half-written checkpoint under
the final name.

Loading checks everything before it trusts anything: a file that carries any of zili's
header keys is verified (so damage to the ``format`` entry cannot turn verification off),
the header must follow the safetensors rules exactly, and the structure must be one that
:func:`save` writes. Every problem raises one :class:`CheckpointError` (a ``ValueError``)
naming the file and the problem. A file with none of zili's keys is a plain safetensors file
(e.g. downloaded weights): it carries no checksum and loads as a flat dict of tensors.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np

from zili import dtype as dtypes
from zili import safejson
from zili.files import atomic_write
from zili.io import safetensors_format as fmt
from zili.io.safetensors_format import CheckpointError
from zili.tensor import Tensor, tensor

FORMAT = "zili-checkpoint-2"
_LEGACY = "zili-checkpoint-1"  # digest over entries, metadata and data (not the raw header)
_KEYS = ("zili.structure", "zili.metadata", "zili.sha256")
_PLACEHOLDER = "0" * 64
_MARK = b'"zili.sha256":"'
_HEX = re.compile(r"[0-9a-f]{64}")
_MAX_DEPTH = 192  # JSON levels of the structure: 64 levels of nested dicts/lists


def _encode(obj: Any, parts: list[str], tensors: dict[str, np.ndarray], where: str) -> Any:
    """The JSON node describing ``obj``; tensors are moved to ``tensors`` by name."""
    if isinstance(obj, Tensor):
        name = ".".join(parts) or "tensor"
        base, n = name, 1
        while name in tensors:  # {"a.b": x, "a": {"b": y}} would clash: keep both
            name, n = f"{base}~{n}", n + 1
        tensors[name] = obj.detach().numpy()
        return {"tensor": name}
    if isinstance(obj, Mapping):
        items = []
        for key, value in obj.items():
            if not isinstance(key, (str, int)) or isinstance(key, bool):
                raise TypeError(f"zili.save: dict keys must be str or int, got "
                                f"{type(key).__name__} at {where or 'the top level'}")
            items.append([key, _encode(value, [*parts, str(key)], tensors,
                                       f"{where}[{key!r}]")])
        return {"dict": items}
    if isinstance(obj, (list, tuple)):
        kind = "list" if isinstance(obj, list) else "tuple"
        return {kind: [_encode(v, [*parts, str(i)], tensors, f"{where}[{i}]")
                       for i, v in enumerate(obj)]}
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return {"value": obj}
    if isinstance(obj, (np.integer, np.floating, np.bool_)):
        return {"value": obj.item()}
    if isinstance(obj, dtypes.DType):
        return {"dtype": obj.name}
    raise TypeError(f"zili.save: cannot store a {type(obj).__name__} at "
                    f"{where or 'the top level'}; checkpoints hold tensors, dicts, lists and "
                    "JSON values only (no pickle)")


def _legacy_digest(entries: Mapping[str, Any], metadata: Mapping[str, str],
                   data: Iterable[bytes]) -> str:
    """Format 1's SHA-256 over the tensor entries, the zili metadata and the data bytes."""
    h = hashlib.sha256()
    h.update(json.dumps(entries, sort_keys=True).encode())
    h.update(json.dumps({k: v for k, v in metadata.items() if k != "zili.sha256"},
                        sort_keys=True).encode())
    for chunk in data:
        h.update(chunk)
    return h.hexdigest()


def _file_digest(header: bytes, data: Iterable[bytes]) -> str:
    """SHA-256 of the whole file (``header`` holds the placeholder digest)."""
    h = hashlib.sha256(header)
    for chunk in data:
        h.update(chunk)
    return h.hexdigest()


def save(obj: Any, path: str | os.PathLike, metadata: Mapping[str, Any] | None = None) -> None:
    """Write ``obj`` (a state dict, or a nested dict of tensors and JSON values) to ``path``
    as safetensors, atomically, with ``metadata`` (JSON-able) and a checksum.

    Raises:
        TypeError: for a value that is neither a tensor nor JSON-able (the path names it).
        OSError: if the file cannot be written; no partial file is left behind.
    """
    tensors: dict[str, np.ndarray] = {}
    structure = _encode(obj, [], tensors, "")
    meta = {"format": FORMAT, "zili.structure": json.dumps(structure),
            "zili.metadata": json.dumps(dict(metadata or {})), "zili.sha256": _PLACEHOLDER}
    header, chunks = fmt.encode(tensors, meta)
    # values are JSON-escaped strings and names are followed by "{", so the mark is unique
    assert header.count(_MARK + _PLACEHOLDER.encode()) == 1
    digest = _file_digest(header, chunks)
    header = header.replace(_MARK + _PLACEHOLDER.encode(), _MARK + digest.encode())
    atomic_write(path, [header, *chunks])


def _decode(node: Any, tensors: Mapping[str, Tensor], path: str) -> Any:
    """Rebuild the object a structure node describes, checking its form at every level."""
    if not isinstance(node, dict) or len(node) != 1:
        raise CheckpointError(f"{path}: checkpoint structure is corrupted (unexpected node "
                              f"{str(node)[:80]!r})")
    (kind, body), = node.items()
    if kind == "tensor":
        if not isinstance(body, str) or body not in tensors:
            raise CheckpointError(f"{path}: checkpoint structure names tensor "
                                  f"{str(body)[:80]!r}, which the file does not hold")
        return tensors[body]
    if kind in ("dict", "list", "tuple") and not isinstance(body, list):
        raise CheckpointError(f"{path}: checkpoint structure has a {kind} node whose body is "
                              f"not a list; the header is corrupted")
    if kind == "dict":
        out = {}
        for item in body:
            if not (isinstance(item, list) and len(item) == 2
                    and isinstance(item[0], (str, int)) and not isinstance(item[0], bool)):
                raise CheckpointError(f"{path}: checkpoint structure has a malformed dict "
                                      f"item {str(item)[:80]!r}")
            out[item[0]] = _decode(item[1], tensors, path)
        return out
    if kind == "list":
        return [_decode(value, tensors, path) for value in body]
    if kind == "tuple":
        return tuple(_decode(value, tensors, path) for value in body)
    if kind == "value":
        if body is not None and not isinstance(body, (bool, int, float, str)):
            raise CheckpointError(f"{path}: checkpoint structure has a value node holding a "
                                  f"{type(body).__name__}")
        return body
    if kind == "dtype":
        try:
            return dtypes.to_dtype(body)
        except (TypeError, KeyError):
            raise CheckpointError(f"{path}: checkpoint structure names an unknown dtype "
                                  f"{str(body)[:40]!r}") from None
    raise CheckpointError(f"{path}: checkpoint structure has an unknown node kind "
                          f"{str(kind)[:40]!r}")


def _verify(path: str, header: bytes, data: bytes, entries: Mapping[str, Any],
            meta: Mapping[str, str]) -> bool:
    """Check the checksum of a file that carries any of zili's keys; False for a plain
    safetensors file (none of them).

    Raises:
        CheckpointError: a damaged zili file: unknown format entry, missing or malformed
            checksum, or contents that do not match it.
    """
    form = meta.get("format")
    if form not in (FORMAT, _LEGACY) and not any(k in meta for k in _KEYS) \
            and "zili" not in str(form):
        return False
    recorded = meta.get("zili.sha256")
    if form not in (FORMAT, _LEGACY) or not isinstance(recorded, str) \
            or not _HEX.fullmatch(recorded):
        raise CheckpointError(f"{path}: the header's format entry or checksum is damaged "
                              f"(format {str(form)[:40]!r}); the file is corrupted")
    if form == FORMAT:
        mark = _MARK + recorded.encode()
        if header.count(mark) != 1:
            raise CheckpointError(f"{path}: the header's checksum entry is damaged; the file "
                                  "is corrupted")
        actual = _file_digest(header.replace(mark, _MARK + _PLACEHOLDER.encode()), [data])
    else:
        actual = _legacy_digest(entries, meta, [data])
    if actual != recorded:
        raise CheckpointError(f"{path}: checksum mismatch: the checkpoint's contents do not "
                              "match the SHA-256 recorded when it was saved (the file is "
                              "corrupted or was modified)")
    return True


def _read(path: str) -> tuple[dict[str, np.ndarray], dict[str, str], bool]:
    """(arrays by name, metadata, whether the file is a verified zili checkpoint)."""
    header, data = fmt.read_raw(path)
    entries, meta = fmt.parse_header(header[8:], len(data), path)
    ours = _verify(path, header, data, entries, meta)
    arrays = {}
    for name, entry in entries.items():
        begin, end = entry["data_offsets"]
        arrays[name] = np.frombuffer(data, dtype=fmt.CODES[entry["dtype"]], offset=begin,
                                     count=(end - begin) // fmt.CODES[entry["dtype"]].itemsize
                                     ).reshape(entry["shape"])
    return arrays, meta, ours


def _json_entry(meta: Mapping[str, str], key: str, path: str, max_depth: int) -> Any:
    try:
        return safejson.loads(meta[key], max_depth=max_depth)
    except (KeyError, safejson.JSONError) as e:
        raise CheckpointError(f"{path}: checkpoint {key} in the header is missing or "
                              f"corrupted ({e})") from None


def load(path: str | os.PathLike, device: Any = None, map_location: Any = None) -> Any:
    """Read a checkpoint written by :func:`save` and rebuild its structure, tensors on
    ``device`` (``map_location`` is PyTorch's name for it). A plain safetensors file (e.g. a
    downloaded model) loads as a flat dict of tensors.

    Raises:
        FileNotFoundError: if ``path`` does not exist.
        IsADirectoryError: if ``path`` is a folder.
        CheckpointError: (a ``ValueError``) naming the file and the problem, if it is
            truncated, corrupted (checksum mismatch), malformed or not a safetensors file.
    """
    path = os.fspath(path)
    device = device if device is not None else map_location
    arrays, meta, ours = _read(path)
    structure = _json_entry(meta, "zili.structure", path, _MAX_DEPTH) if ours else None
    tensors = {name: tensor(array.copy(), device=device) for name, array in arrays.items()}
    if not ours:
        return tensors
    return _decode(structure, tensors, path)


def load_metadata(path: str | os.PathLike) -> dict[str, Any]:
    """The ``metadata`` given to :func:`save` (for a plain safetensors file, its raw
    ``__metadata__``), after verifying the whole file's checksum.

    Raises:
        FileNotFoundError, IsADirectoryError: as :func:`load`.
        CheckpointError: as :func:`load`.
    """
    path = os.fspath(path)
    _, meta, ours = _read(path)
    if not ours:
        return dict(meta)
    found = _json_entry(meta, "zili.metadata", path, _MAX_DEPTH)
    if not isinstance(found, dict):
        raise CheckpointError(f"{path}: checkpoint metadata in the header is not a JSON object")
    return found
