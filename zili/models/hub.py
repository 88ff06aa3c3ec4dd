"""Hugging Face model folders: ``config.json``, ``model.safetensors`` or shards with
``model.safetensors.index.json``, and ``tokenizer.json``.

Tensors are memory-mapped (copy-on-write: a write never reaches the file) and wrapped
without a copy where the device keeps its buffers in host memory, so a bfloat16 checkpoint
stays bfloat16 and costs the file's pages, not an extra copy. Every tensor is checked
against the config before any is used: a missing, unexpected or mis-shaped one is an
error naming it and the file. Saving writes the same layout back (the same shards, names
and dtypes), atomically.
"""

from __future__ import annotations

import json
import os
import shutil
from typing import Any

import numpy as np

from zili import dtype as dtypes
from zili.devices import get_device
from zili.files import atomic_write
from zili.io import safetensors_format as fmt
from zili.io.dlpack import host_tensor
from zili.models.llama import LlamaForCausalLM
from zili.models.llama_config import LlamaConfig
from zili.tensor import Tensor
from zili.text.tokenizer import TokenizerError, check_tokenizer_json

INDEX = "model.safetensors.index.json"
SINGLE = "model.safetensors"
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "generation_config.json",
                   "special_tokens_map.json")


def checkpoint_files(path: str) -> dict[str, str]:
    """tensor name -> file (relative to ``path``) for a single file or a sharded index.

    Raises:
        FileNotFoundError: neither model.safetensors nor an index in ``path``.
        ValueError: an index that is not JSON or lacks ``weight_map``.
    """
    index = os.path.join(path, INDEX)
    if os.path.exists(index):
        with open(index, encoding="utf-8") as f:
            try:
                weight_map = json.load(f)["weight_map"]
            except (json.JSONDecodeError, KeyError, TypeError) as e:
                raise ValueError(f"{index}: not a safetensors index (needs a weight_map; "
                                 f"{e})") from None
        return {str(k): str(v) for k, v in weight_map.items()}
    single = os.path.join(path, SINGLE)
    if not os.path.exists(single):
        if os.path.exists(os.path.join(path, "pytorch_model.bin")):
            raise FileNotFoundError(f"{path}: only pytorch_model.bin (a pickle) is there; zili "
                                    "loads safetensors only (convert the checkpoint first)")
        raise FileNotFoundError(f"{path}: no {SINGLE} or {INDEX}; is this a Hugging Face "
                                "model folder?")
    entries, _, _ = fmt.read_header(single)
    return dict.fromkeys(entries, SINGLE)


def read_tensors(path: str, device: Any = None, dtype: Any = None) -> dict[str, Tensor]:
    """Every tensor of the checkpoint in folder ``path``, memory-mapped, by name; cast to
    ``dtype`` when given (that makes a copy), else kept in the file's dtype.

    Raises:
        ValueError: naming the file for a malformed shard or an index that points at a
            tensor its shard does not hold.
    """
    files = checkpoint_files(path)
    target = dtypes.to_dtype(dtype) if dtype is not None else None
    out: dict[str, Tensor] = {}
    for shard in sorted(set(files.values())):
        file = os.path.join(path, shard)
        entries, _, start = fmt.read_header(file)
        data = np.memmap(file, dtype=np.uint8, mode="c") if entries else None
        for name, entry in entries.items():
            begin, end = entry["data_offsets"]
            array = data[start + begin:start + end].view(fmt.CODES[entry["dtype"]])
            t = host_tensor(array.reshape(entry["shape"]), device=device)
            if target is not None and t.dtype.is_floating_point and t.dtype is not target:
                t = t.to(target)
            out[name] = t
    for name, shard in files.items():
        if name not in out:
            raise ValueError(f"{os.path.join(path, INDEX)}: names tensor {name!r} in {shard}, "
                             "which does not hold it")
    return out


def load_tokenizer(path: str) -> Any:
    """The ``tokenizers.Tokenizer`` of ``path/tokenizer.json``, or None when there is none.

    The file is checked as every tokenizer zili reads is (malformed JSON, regexes that can
    backtrack exponentially) before the ``tokenizers`` library sees it.

    Raises:
        ImportError: tokenizer.json exists but the ``tokenizers`` library is missing.
        TokenizerError: the file is malformed, unsafe, or refused by ``tokenizers``.
    """
    file = os.path.join(path, "tokenizer.json")
    if not os.path.exists(file):
        return None
    try:
        from tokenizers import Tokenizer  # optional dependency (the `data` extra)
    except ImportError:
        raise ImportError(f"{file}: reading it needs the `tokenizers` library "
                          "(pip install tokenizers)") from None
    try:
        with open(file, encoding="utf-8") as handle:
            text = handle.read()
    except (OSError, UnicodeDecodeError) as error:
        raise TokenizerError(f"{file}: cannot read it ({error})") from None
    check_tokenizer_json(text, file)
    try:
        return Tokenizer.from_str(text)
    except Exception as error:  # the library raises plain Exceptions for bad files
        raise TokenizerError(f"{file}: the tokenizers library refused it ({error})") from None


def from_pretrained(path: str | os.PathLike, dtype: Any = None, device: Any = None
                    ) -> LlamaForCausalLM:
    """The model of a Hugging Face folder (LLaMA, Qwen2, Mistral), weights memory-mapped in
    their stored dtype unless ``dtype`` asks for another, on ``device``; its tokenizer as
    ``model.tokenizer`` (None without tokenizer.json).

    Raises:
        FileNotFoundError: no config.json or no safetensors weights in ``path``.
        ValueError: a tensor missing, unexpected or of the wrong shape for the config (the
            message names it), or a config outside the family.
    """
    path = os.fspath(path)
    config = LlamaConfig.from_json(path)
    device = get_device(device)
    tensors = read_tensors(path, device=device, dtype=dtype)
    model = LlamaForCausalLM(config, dtype=dtype or _stored_dtype(tensors), device=device)
    expected = model.state_dict()
    if config.tie_word_embeddings:
        tensors.pop("lm_head.weight", None)  # some tied checkpoints store the copy too
    problems = [f"missing tensor {k!r} (shape {tuple(v.shape)})"
                for k, v in expected.items() if k not in tensors]
    problems += [f"unexpected tensor {k!r} (shape {tuple(v.shape)})"
                 for k, v in tensors.items() if k not in expected]
    problems += [f"tensor {k!r} has shape {tuple(tensors[k].shape)} but the config needs "
                 f"{tuple(v.shape)}" for k, v in expected.items()
                 if k in tensors and tuple(tensors[k].shape) != tuple(v.shape)]
    if problems:
        files = checkpoint_files(path)
        where = {files.get(p.split("'")[1], "?") for p in problems}
        raise ValueError(f"{path}: the checkpoint does not fit its config.json "
                         f"({config.model_type}, {config.num_hidden_layers} layers, hidden "
                         f"{config.hidden_size}): " + "; ".join(problems[:8])
                         + (f"; and {len(problems) - 8} more" if len(problems) > 8 else "")
                         + f" (files: {', '.join(sorted(where))})")
    model.load_state_dict(tensors, assign=True)
    model.tokenizer = load_tokenizer(path)
    return model


def _stored_dtype(tensors: dict[str, Tensor]) -> dtypes.DType:
    for t in tensors.values():
        if t.dtype.is_floating_point:
            return t.dtype
    return dtypes.float32


def save_pretrained(model: LlamaForCausalLM, path: str | os.PathLike,
                    source: str | os.PathLike | None = None,
                    max_shard_bytes: int | None = None) -> None:
    """Write ``model`` as a Hugging Face folder: config.json and its tensors, in the shard
    layout of ``source`` (the folder it was loaded from; its tokenizer files are copied) or
    else one model.safetensors (several shards of at most ``max_shard_bytes`` if given).
    Every file is written atomically.

    Raises:
        OSError: a file cannot be written (no partial file is left).
    """
    path = os.fspath(path)
    os.makedirs(path, exist_ok=True)
    state = {k: v.detach() for k, v in model.state_dict().items()}
    layout = _layout(state, source, max_shard_bytes)
    shards: dict[str, dict[str, np.ndarray]] = {}
    for name in state:
        shards.setdefault(layout[name], {})[name] = state[name].numpy()
    for shard, arrays in shards.items():
        header, chunks = fmt.encode(arrays, {"format": "pt"})
        atomic_write(os.path.join(path, shard), [header, *chunks])
    if len(shards) > 1 or (source is not None and
                           os.path.exists(os.path.join(os.fspath(source), INDEX))):
        total = sum(a.nbytes for arrays in shards.values() for a in arrays.values())
        index = {"metadata": {"total_size": total}, "weight_map": dict(sorted(layout.items()))}
        atomic_write(os.path.join(path, INDEX), [json.dumps(index, indent=2).encode()])
    config = model.config.to_dict()
    atomic_write(os.path.join(path, "config.json"),
                 [json.dumps(config, indent=2, sort_keys=True).encode()])
    if source is not None:
        for name in TOKENIZER_FILES:
            src = os.path.join(os.fspath(source), name)
            if os.path.exists(src) and os.path.abspath(src) != os.path.abspath(
                    os.path.join(path, name)):
                shutil.copyfile(src, os.path.join(path, name))


def _layout(state: dict[str, Tensor], source: Any, max_shard_bytes: int | None
            ) -> dict[str, str]:
    """tensor name -> shard file name for saving."""
    if source is not None:
        files = checkpoint_files(os.fspath(source))
        if set(files) >= set(state):
            return {k: files[k] for k in state}
    if not max_shard_bytes:
        return dict.fromkeys(state, SINGLE)
    groups: list[list[str]] = [[]]
    size = 0
    for name, t in state.items():
        nbytes = t.numel() * t.dtype.itemsize
        if groups[-1] and size + nbytes > max_shard_bytes:
            groups.append([])
            size = 0
        groups[-1].append(name)
        size += nbytes
    n = len(groups)
    return {name: f"model-{i + 1:05d}-of-{n:05d}.safetensors"
            for i, group in enumerate(groups) for name in group}
