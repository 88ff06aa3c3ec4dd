"""Seeded fuzzing of every file zili reads (issue 8): mutated checkpoints (bit flips anywhere,
truncations, header edits), token shards, tokenizer files and corpus lines. Each case either
loads exactly the original data or raises the one documented error naming the file; any other
exception fails the test (a tokenizer file outside a build folder has no checksum: there the
property is "a working tokenizer or the error"). Cases are small files in one folder, so
thousands run in seconds.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import random
import struct
from pathlib import Path

import numpy as np
import pytest

import zili
from zili.data.shards import ShardError, read_shard, write_shard
from zili.io import CheckpointError
from zili.text.config import default_config
from zili.text.readers import BadRecord, Document, read_file

SEED = 20261123
CHECKPOINT_CASES = 2400


def _original() -> dict:
    return {"model": {"w": zili.tensor(np.linspace(-1, 1, 24, dtype=np.float32).reshape(4, 6)),
                      "ids": zili.tensor(np.arange(5, dtype=np.int64)),
                      "half": zili.tensor(np.array([1.5, -2.0], np.float16))},
            "step": 7, "lr": 0.001, "names": ["a", "中文"], "pair": (1, None),
            "dtype": zili.bfloat16}


def _put(path: Path, data: bytes) -> None:
    """Write a case's bytes: a new file, since truncating one in place is slow on this file
    system (3 ms against 0.3 ms)."""
    path.unlink(missing_ok=True)
    path.write_bytes(data)


def _same(a: object, b: object) -> bool:
    """Structure, types and tensor bytes identical (the original object is the oracle)."""
    if isinstance(a, zili.Tensor):
        return isinstance(b, zili.Tensor) and a.dtype == b.dtype and a.shape == b.shape and \
            a.numpy().tobytes() == b.numpy().tobytes()
    if isinstance(a, dict):
        return isinstance(b, dict) and list(a) == list(b) and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return type(a) is type(b) and len(a) == len(b) and all(map(_same, a, b))
    return type(a) is type(b) and a == b


def _header_edit(rng: random.Random, data: bytes) -> bytes:
    """Re-encode the header with one hostile edit (the length field kept consistent)."""
    n = struct.unpack("<Q", data[:8])[0]
    header = json.loads(data[8:8 + n])
    body = data[8 + n:]
    names = [k for k in header if k != "__metadata__"]
    entry = header[rng.choice(names)]
    meta = header["__metadata__"]
    hostile = [10**30, -1, 2.5, "3", None, [], True, 2**63, 0]
    kind = rng.randrange(9)
    if kind == 0:
        entry["shape"][rng.randrange(len(entry["shape"]))] = rng.choice(hostile)
    elif kind == 1:
        entry["data_offsets"][rng.randrange(2)] = rng.choice(hostile + [rng.randrange(400)])
    elif kind == 2:
        entry["dtype"] = rng.choice(["F128", "f32", "", 7, "I64", "BF16", "U8", "BOOL"])
    elif kind == 3:
        key = rng.choice(list(meta))
        value = meta[key]
        pos = rng.randrange(len(value) + 1)
        meta[key] = value[:pos] + rng.choice(["[", "]", "{", "\"", "9" * 5000, "x"]) + value[pos:]
    elif kind == 4:
        meta["zili.structure"] = "[" * rng.choice([100, 5000]) + "]" * 100
    elif kind == 5:
        entry[rng.choice(["extra", "dtype", "shape"])] = {"deep": [[[[1]]]]}
    elif kind == 6:
        other = header[rng.choice(names)]
        entry["data_offsets"] = list(other["data_offsets"])  # overlap
    elif kind == 7:
        del meta[rng.choice(list(meta))]
    else:
        header[rng.choice(names)] = rng.choice([[], "x", 3, {"dtype": "F32"}])
    text = json.dumps(header).encode()
    if rng.random() < 0.2:
        text = text.replace(b"a", b"\xff", 1)  # not UTF-8
    return struct.pack("<Q", len(text)) + text + body


def _mutate(rng: random.Random, data: bytes) -> bytes:
    kind = rng.randrange(5)
    out = bytearray(data)
    if kind == 0:  # bit flips anywhere
        for _ in range(rng.choice([1, 1, 2, 3])):
            out[rng.randrange(len(out))] ^= 1 << rng.randrange(8)
    elif kind == 1:  # truncation
        del out[rng.randrange(len(out)):]
    elif kind == 2:  # bytes inserted or deleted inside
        pos = rng.randrange(len(out))
        if rng.random() < 0.5:
            out[pos:pos] = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 9)))
        else:
            del out[pos:pos + rng.randrange(1, 9)]
    elif kind == 3:  # the length field
        out[:8] = struct.pack("<Q", rng.choice([0, 1, 7, len(out), 2**63, 2**64 - 1,
                                                struct.unpack("<Q", data[:8])[0] + 8]))
    else:
        return _header_edit(rng, data)
    return bytes(out)


def test_fuzz_mutated_checkpoints_load_exactly_or_raise_checkpoint_error(tmp_path: Path,
                                                                        device: str) -> None:
    original = _original()
    path = tmp_path / "ck.safetensors"
    zili.save(original, path, metadata={"note": "fuzz"})
    clean = path.read_bytes()
    assert _same(original, zili.load(path, device=device))
    rng = random.Random(f"{SEED}-{device}")  # different mutations on each device
    outcomes = {"refused": 0, "identical": 0}
    for case in range(CHECKPOINT_CASES):
        mutated = _mutate(rng, clean)
        _put(path, mutated)
        try:
            loaded = zili.load(path, device=device)
            meta = zili.io.load_metadata(path)
        except CheckpointError as e:
            assert str(path) in str(e), (case, str(e))
            outcomes["refused"] += 1
            continue
        assert _same(original, loaded) and meta == {"note": "fuzz"}, \
            f"case {case}: a mutated checkpoint loaded different data"
        assert mutated == clean, f"case {case}: a changed file loaded without complaint"
        outcomes["identical"] += 1
    assert outcomes["refused"] > CHECKPOINT_CASES * 0.95, outcomes


def test_fuzz_mutated_shards_load_exactly_or_raise_shard_error(tmp_path: Path) -> None:
    ids = np.random.default_rng(SEED).integers(0, 60000, 300).astype(np.uint16)
    path = tmp_path / "train_00000.bin"
    write_shard(path, ids)
    clean = path.read_bytes()
    rng = random.Random(SEED + 1)
    refused = 0
    for case in range(600):
        out = bytearray(clean)
        kind = rng.randrange(3)
        if kind == 0:
            for _ in range(rng.choice([1, 2])):
                out[rng.randrange(len(out))] ^= 1 << rng.randrange(8)
        elif kind == 1:
            del out[rng.randrange(len(out)):]
        else:
            field = rng.choice([(8, 4), (12, 4), (16, 8)])  # version, dtype, count
            out[field[0]:field[0] + field[1]] = rng.randbytes(field[1])
        _put(path, bytes(out))
        try:
            back = np.array(read_shard(path))
        except ShardError as e:
            assert str(path) in str(e), (case, str(e))
            refused += 1
            continue
        # only the 8 reserved header bytes are outside the checksum and unused
        np.testing.assert_array_equal(back, ids, err_msg=f"case {case}")
        assert back.dtype == ids.dtype
    assert refused > 500


def _bpe_file(tmp_path: Path) -> bytes:
    from zili.text.tokenizer import BPETokenizer

    tok = BPETokenizer.train(["今天天气很好", "我们去公园散步", "hello world"] * 5, 300)
    return tok.save(tmp_path).read_bytes()


def test_fuzz_mutated_tokenizer_files_load_or_raise_tokenizer_error(tmp_path: Path) -> None:
    from zili.text.tokenizer import BPETokenizer, CharTokenizer, TokenizerError, load_tokenizer

    clean_bpe = _bpe_file(tmp_path)
    char = CharTokenizer.train(["今天天气很好", "我们"], 50)
    clean_char = char.save(tmp_path).read_bytes()
    rng = random.Random(SEED + 2)
    for case in range(300):
        which = case % 2
        clean, cls, name = ((clean_bpe, BPETokenizer, "tokenizer.json") if which == 0 else
                            (clean_char, CharTokenizer, "vocab.json"))
        out = bytearray(clean)
        kind = rng.randrange(4)
        if kind == 0:
            for _ in range(rng.choice([1, 3])):
                out[rng.randrange(len(out))] ^= 1 << rng.randrange(8)
        elif kind == 1:
            del out[rng.randrange(len(out)):]
        elif kind == 2:
            pos = rng.randrange(len(out))
            out[pos:pos] = rng.choice([b"[" * 3000, b'{"Regex": "(a+)+$"}, ', b"\xff", b"9" * 5000])
        else:
            data = json.loads(clean)
            data[rng.choice(list(data))] = rng.choice([None, 3, [], {"type": "Nope"},
                                                       {"Regex": "(x|x)*y"}])
            out = bytearray(json.dumps(data).encode())
        folder = tmp_path / f"fuzz{which}"
        path = folder / name
        folder.mkdir(exist_ok=True)
        _put(path, bytes(out))
        # in a build folder the manifest's sha256 makes it exact: the original or the error
        (folder / "manifest.json").write_text(json.dumps({"tokenizer": {
            "file": name, "sha256": hashlib.sha256(clean).hexdigest()}}))
        try:
            load_tokenizer(folder)
            assert bytes(out) == clean, f"case {case}: an altered tokenizer file loaded"
        except TokenizerError as e:
            assert str(path) in str(e), (case, str(e))
        # a loose file has no checksum: it loads as a working tokenizer or raises the error
        try:
            tok = cls.load(path)
        except TokenizerError as e:
            assert str(path) in str(e), (case, str(e))
            continue
        ids = tok.encode("今天很好 ok")
        assert all(0 <= i < tok.vocab_size for i in ids)
        tok.decode(ids)


_LINES = [b'{"text": "\xe4\xbb\x8a\xe5\xa4\xa9\xe5\xa4\xa9\xe6\xb0\x94\xe5\xbe\x88\xe5\xa5\xbd"}',
          b'{"text": "ok", "meta": {"n": 1}}', b'{"text": 5}', b"[" * 100_000,
          b'{"text": ' + b"9" * 5000 + b"}", b'{"text": ["a"]}', b"\xff\xfe", b'{"a": 1, "a": 2}',
          b'{"text": "' + b"\\ud800" + b'"}', b"{" * 50 + b"}" * 50, b"null", b'"x"']


def test_fuzz_corpus_lines_become_documents_or_counted_bad_records(tmp_path: Path) -> None:
    rng = random.Random(SEED + 3)
    lines = []
    for _ in range(1000):
        line = bytearray(rng.choice(_LINES))
        for _ in range(rng.randrange(3)):
            if line:
                line[rng.randrange(len(line))] ^= 1 << rng.randrange(8)
        lines.append(bytes(line).replace(b"\n", b" ").replace(b"\r", b" "))
    data = b"\n".join(lines) + b"\n"
    cfg = default_config()
    for name, payload in (("c.jsonl", data), ("c.jsonl.gz", gzip.compress(data))):
        path = tmp_path / name
        path.write_bytes(payload)
        records = list(read_file(path, "jsonl", cfg))
        assert all(isinstance(r, (Document, BadRecord)) for r in records)
        assert all(r.source == str(path) and 1 <= r.line <= len(lines) for r in records)
        blank = sum(1 for ln in lines if not ln.strip())
        # every non-blank line is accounted for exactly once
        assert sorted(r.line for r in records) == [i + 1 for i, ln in enumerate(lines)
                                                   if ln.strip()], blank
        for r in records:
            if isinstance(r, Document):
                expected = json.loads(lines[r.line - 1])
                assert r.text == expected["text"] and isinstance(r.text, str)


@pytest.mark.parametrize("size", [0, 1, 7, 8, 9, 64])
def test_tiny_files_raise_the_documented_error(tmp_path: Path, size: int) -> None:
    path = tmp_path / "tiny.bin"
    path.write_bytes(bytes(range(size)))
    with pytest.raises(CheckpointError, match=str(path)):
        zili.load(path)
    with pytest.raises(ShardError, match=str(path)):
        read_shard(path)
