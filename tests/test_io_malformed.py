"""Checkpoints that cannot be silently altered (issue 8 item 3): the checksum covers the whole
file, and every malformed header raises one CheckpointError naming the file and problem."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import numpy as np
import pytest

import zili
from zili.cli.main import main
from zili.io import CheckpointError


def _write_header(path: Path, header: object, data: bytes = b"", raw: bytes | None = None
                  ) -> str:
    text = raw if raw is not None else json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(text)) + text + data)
    return str(path)


def _saved(tmp_path: Path) -> tuple[str, dict]:
    obj = {"w": zili.tensor(np.arange(12, dtype=np.float32).reshape(3, 4)),
           "cfg": {"n": 1, "name": "x"}}
    path = str(tmp_path / "ck.safetensors")
    zili.save(obj, path, metadata={"run": "r"})
    return path, obj


def test_checksum_covers_format_entry_so_a_flip_there_is_detected(tmp_path: Path) -> None:
    # the attack: flip a bit in the format entry (verification used to turn off),
    # then a data bit: the loaded value would be silently wrong
    path, _ = _saved(tmp_path)
    data = bytearray(Path(path).read_bytes())
    pos = data.index(b"zili-checkpoint")
    for bit in range(8):
        for offset in range(len(b"zili-checkpoint-2")):
            mutated = bytearray(data)
            mutated[pos + offset] ^= 1 << bit
            mutated[-1] ^= 0x40  # and a data bit
            Path(path).write_bytes(mutated)
            with pytest.raises(CheckpointError, match=path):
                zili.load(path)


def test_checksum_covers_every_header_byte(tmp_path: Path) -> None:
    path, _ = _saved(tmp_path)
    data = Path(path).read_bytes()
    header_end = 8 + struct.unpack("<Q", data[:8])[0]
    for pos in range(header_end):
        mutated = bytearray(data)
        mutated[pos] ^= 0x01
        Path(path).write_bytes(mutated)
        with pytest.raises(CheckpointError, match=path):
            zili.load(path)
        with pytest.raises(CheckpointError, match=path):
            zili.io.load_metadata(path)


_ENTRY = {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}


@pytest.mark.parametrize(("entry", "problem"), [
    ({**_ENTRY, "shape": [10**30]}, "shape|offsets"),
    ({**_ENTRY, "shape": [-2]}, "shape"),
    ({**_ENTRY, "shape": [2.5]}, "shape"),
    ({**_ENTRY, "shape": ["2"]}, "shape"),
    ({**_ENTRY, "shape": [True, 2]}, "shape"),
    ({**_ENTRY, "shape": [1 << 40, 1 << 40]}, "offsets"),
    ({**_ENTRY, "shape": 2}, "shape"),
    ({**_ENTRY, "data_offsets": [0, 9]}, "offsets"),
    ({**_ENTRY, "data_offsets": [-8, 0]}, "offsets"),
    ({**_ENTRY, "data_offsets": [8, 16]}, "truncated"),
    ({**_ENTRY, "data_offsets": [0, 10**400]}, "invalid JSON|offsets"),
    ({**_ENTRY, "data_offsets": "0-8"}, "data_offsets"),
    ({**_ENTRY, "dtype": "F128"}, "unknown dtype"),
    ({**_ENTRY, "dtype": ["F32"]}, "unknown dtype"),
    ({"dtype": "F32", "shape": [2]}, "exactly"),
    ([1, 2], "exactly"),
])
def test_malformed_header_entry_raises_checkpoint_error(tmp_path: Path, entry: object,
                                                       problem: str) -> None:
    path = _write_header(tmp_path / "bad.safetensors", {"t": entry}, bytes(8))
    with pytest.raises(CheckpointError, match=f"{path}.*({problem})"):
        zili.load(path)


def test_overlapping_and_holed_offsets_raise_checkpoint_error(tmp_path: Path) -> None:
    a = {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}
    b = {"dtype": "F32", "shape": [2], "data_offsets": [4, 12]}
    path = _write_header(tmp_path / "o.safetensors", {"a": a, "b": b}, bytes(12))
    with pytest.raises(CheckpointError, match=f"{path}.*overlaps"):
        zili.load(path)
    b = {"dtype": "F32", "shape": [2], "data_offsets": [12, 20]}
    path = _write_header(tmp_path / "h.safetensors", {"a": a, "b": b}, bytes(20))
    with pytest.raises(CheckpointError, match=f"{path}.*hole"):
        zili.load(path)
    path = _write_header(tmp_path / "t.safetensors", {"a": a}, bytes(9))
    with pytest.raises(CheckpointError, match=f"{path}.*after the last tensor"):
        zili.load(path)


@pytest.mark.parametrize(("raw", "problem"), [
    (b"[" * 100_000 + b"]" * 100_000, "nesting"),
    (b'{"t": ' + b'{"a":' * 5000 + b"1" + b"}" * 5001, "nesting"),
    (b'{"t": {"dtype": "F32", "shape": [' + b"9" * 5000 + b'], "data_offsets": [0, 8]}}',
     "digits"),
    (b'{"\xff\xfe": 1}', "UTF-8"),
    (b'{"a": 1, "a": 2}', "duplicate"),
    (b'"just a string"', "not a JSON object"),
    (b'{"__metadata__": {"format": 3}}', "strings to strings"),
    (b'{"__metadata__": []}', "strings to strings"),
])
def test_malformed_header_json_raises_checkpoint_error(tmp_path: Path, raw: bytes,
                                                      problem: str) -> None:
    path = _write_header(tmp_path / "j.safetensors", None, raw=raw)
    with pytest.raises(CheckpointError, match=f"{path}.*{problem}"):
        zili.load(path)


def _resave_with_structure(tmp_path: Path, structure: object) -> str:
    """A checkpoint whose structure entry is ``structure`` but whose checksum is valid (as a
    hostile writer could make): the structure is checked on its own merits."""
    from zili.io import checkpoint as ck
    from zili.io import safetensors_format as fmt

    meta = {"format": ck.FORMAT, "zili.structure": json.dumps(structure),
            "zili.metadata": "{}", "zili.sha256": ck._PLACEHOLDER}
    header, chunks = fmt.encode({"w": np.zeros(2, np.float32)}, meta)
    digest = ck._file_digest(header, chunks)
    header = header.replace(ck._PLACEHOLDER.encode(), digest.encode())
    path = tmp_path / "s.safetensors"
    path.write_bytes(header + b"".join(chunks))
    return str(path)


@pytest.mark.parametrize(("structure", "problem"), [
    ({"dict": [["a", {"tensor": "missing"}]]}, "does not hold"),
    ({"dict": [["a"]]}, "malformed dict item"),
    ({"dict": [[1.5, {"value": 1}]]}, "malformed dict item"),
    ({"dict": {"a": 1}}, "not a list"),
    ({"dtype": "float128"}, "unknown dtype"),
    ({"dtype": ["x"]}, "unknown dtype"),
    ({"value": [1, 2]}, "value node"),
    ({"bogus": 1}, "unknown node kind"),
    ({"list": [{"value": 1}], "tuple": []}, "unexpected node"),
    (json.loads("[" * 200 + "]" * 200), "nesting"),
])
def test_malformed_structure_raises_checkpoint_error(tmp_path: Path, structure: object,
                                                    problem: str) -> None:
    path = _resave_with_structure(tmp_path, structure)
    with pytest.raises(CheckpointError, match=f"{path}.*{problem}"):
        zili.load(path)


def test_checkpoint_error_is_a_value_error_and_exported() -> None:
    assert issubclass(CheckpointError, ValueError)
    assert zili.CheckpointError is CheckpointError


def test_cli_prints_checkpoint_error_as_one_line(tmp_path: Path, capsys) -> None:
    path = _write_header(tmp_path / "bad.safetensors", None, raw=b"[" * 100_000)
    assert main(["generate", "--checkpoint", path, "--prompt", "中国"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err and path in err


def test_checkpoint_path_that_is_a_directory_says_directory(tmp_path: Path, capsys) -> None:
    assert main(["generate", "--checkpoint", str(tmp_path), "--prompt", "中国"]) == 2
    err = capsys.readouterr().err
    assert "is a directory" in err and "does not exist" not in err and err.count("\n") == 1
    with pytest.raises(IsADirectoryError, match="is a directory"):
        zili.load(tmp_path)


def test_old_format_1_checkpoints_still_load_and_verify(tmp_path: Path) -> None:
    from zili.io import checkpoint as ck
    from zili.io import safetensors_format as fmt

    arrays = {"w": np.arange(4, dtype=np.float32)}
    meta = {"format": "zili-checkpoint-1",
            "zili.structure": json.dumps({"dict": [["w", {"tensor": "w"}]]}),
            "zili.metadata": "{}"}
    header, chunks = fmt.encode(arrays, {})
    entries = {"w": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]}}
    meta["zili.sha256"] = ck._legacy_digest(entries, meta, chunks)
    header, chunks = fmt.encode(arrays, meta)
    path = tmp_path / "v1.safetensors"
    path.write_bytes(header + b"".join(chunks))
    np.testing.assert_array_equal(zili.load(path)["w"].numpy(), arrays["w"])
    data = bytearray(path.read_bytes())
    data[-1] ^= 1
    path.write_bytes(data)
    with pytest.raises(CheckpointError, match="checksum mismatch"):
        zili.load(path)


class _Payload:
    """Unpickling this would create the file ``marker`` (what a hostile .pt file does)."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (open, (str(self.marker), "w"))


def test_loading_a_pickle_never_runs_its_code(tmp_path: Path) -> None:
    import pickle
    import zipfile

    marker = tmp_path / "pwned"
    stream = pickle.dumps({"w": [1.0, 2.0], "evil": _Payload(marker)})
    raw = tmp_path / "model.pkl"
    raw.write_bytes(stream)
    pt = tmp_path / "model.pt"  # PyTorch's layout: a zip holding data.pkl
    with zipfile.ZipFile(pt, "w") as z:
        z.writestr("archive/data.pkl", stream)
    for path in (raw, pt):
        for load in (zili.load, zili.io.load_metadata):
            with pytest.raises(CheckpointError, match=str(path)):
                load(path)
    assert not marker.exists()
    pickle.loads(stream)  # the oracle: unpickling it does run the payload
    assert marker.exists()
