"""``zili.save`` / ``zili.load``: checkpoints as safetensors files, never pickle.

A checkpoint is any nesting of dicts (str or int keys), lists and tuples whose leaves are
Tensors, JSON values (None, bool, int, float, str) or dtypes. Tensors become safetensors
entries named by their dotted path (a flat ``state_dict`` keeps its own keys, so other
safetensors readers see the usual names); the nesting and the non-tensor values go, as JSON,
into the header's metadata, with the caller's ``metadata`` and a SHA-256 over header and
data. Files are written to a temporary file in the same folder, fsynced and renamed, so a
crash never leaves a half-written checkpoint under the final name.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping
from typing import Any

import numpy as np

from zili import dtype as dtypes
from zili.files import atomic_write
from zili.io import safetensors_format as fmt
from zili.tensor import Tensor, tensor

FORMAT = "zili-checkpoint-1"


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


def _digest(entries: Mapping[str, Any], metadata: Mapping[str, str], data: Any) -> str:
    """SHA-256 over the tensor entries, the zili metadata and the data bytes."""
    h = hashlib.sha256()
    h.update(json.dumps(entries, sort_keys=True).encode())
    h.update(json.dumps({k: v for k, v in metadata.items() if k != "zili.sha256"},
                        sort_keys=True).encode())
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
            "zili.metadata": json.dumps(dict(metadata or {}))}
    header, chunks = fmt.encode(tensors, {})
    entries = json.loads(header[8:].decode())
    entries.pop("__metadata__")
    meta["zili.sha256"] = _digest(entries, meta, chunks)
    header, chunks = fmt.encode(tensors, meta)
    atomic_write(path, [header, *chunks])


def _decode(node: Any, tensors: Mapping[str, Tensor], path: str) -> Any:
    if not isinstance(node, dict) or len(node) != 1:
        raise ValueError(f"{path}: checkpoint structure is corrupted (unexpected node "
                         f"{str(node)[:80]!r})")
    (kind, body), = node.items()
    if kind == "tensor":
        if body not in tensors:
            raise ValueError(f"{path}: checkpoint structure names tensor {body!r}, which the "
                             "file does not hold")
        return tensors[body]
    if kind == "dict":
        return {key: _decode(value, tensors, path) for key, value in body}
    if kind == "list":
        return [_decode(value, tensors, path) for value in body]
    if kind == "tuple":
        return tuple(_decode(value, tensors, path) for value in body)
    if kind == "value":
        return body
    if kind == "dtype":
        return dtypes.to_dtype(body)
    raise ValueError(f"{path}: checkpoint structure has an unknown node kind {kind!r}")


def load(path: str | os.PathLike, device: Any = None, map_location: Any = None) -> Any:
    """Read a checkpoint written by :func:`save` and rebuild its structure, tensors on
    ``device`` (``map_location`` is PyTorch's name for it). A plain safetensors file (e.g. a
    downloaded model) loads as a flat dict of tensors.

    Raises:
        FileNotFoundError: if ``path`` does not exist.
        ValueError: naming the file, if it is truncated, corrupted (checksum mismatch) or not
            a safetensors file.
    """
    path = os.fspath(path)
    device = device if device is not None else map_location
    arrays, meta = _read(path)
    tensors = {name: tensor(array, device=device) for name, array in arrays.items()}
    if meta.get("format") != FORMAT:
        return tensors
    try:
        structure = json.loads(meta["zili.structure"])
    except (KeyError, json.JSONDecodeError):
        raise ValueError(f"{path}: checkpoint structure in the header is missing or "
                         "corrupted") from None
    return _decode(structure, tensors, path)


def load_metadata(path: str | os.PathLike) -> dict[str, Any]:
    """The ``metadata`` given to :func:`save` (for a plain safetensors file, its raw
    ``__metadata__``), read from the header only.

    Raises:
        ValueError: naming the file, if its header is not valid safetensors.
    """
    _, meta, _ = fmt.read_header(os.fspath(path))
    if meta.get("format") != FORMAT:
        return dict(meta)
    try:
        return json.loads(meta["zili.metadata"])
    except (KeyError, json.JSONDecodeError):
        raise ValueError(f"{path}: checkpoint metadata in the header is corrupted") from None


def _read(path: str) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    entries, meta, start = fmt.read_header(path)
    if not isinstance(meta, dict) or not all(isinstance(v, str) for v in meta.values()):
        raise ValueError(f"{path}: safetensors __metadata__ must map strings to strings; the "
                         "header is corrupted")
    ends = [e["data_offsets"][1] for e in entries.values()]
    length = max(ends, default=0)
    with open(path, "rb") as f:
        f.seek(start)
        data = f.read(length)
        trailing = f.read(1)
    ours = meta.get("format") == FORMAT
    if ours:
        if trailing:
            raise ValueError(f"{path}: checkpoint has bytes after its last tensor; the file "
                             "is corrupted")
        if _digest(entries, meta, [data]) != meta.get("zili.sha256"):
            raise ValueError(f"{path}: checksum mismatch: the checkpoint's contents do not "
                             "match the SHA-256 recorded when it was saved (the file is "
                             "corrupted or was modified)")
    arrays = {}
    for name, entry in entries.items():
        begin, end = entry["data_offsets"]
        arrays[name] = np.frombuffer(data[begin:end], dtype=fmt.CODES[entry["dtype"]]) \
            .reshape(entry["shape"]).copy()
    return arrays, meta
