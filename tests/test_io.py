"""zili.save / zili.load: round trips of every dtype and nested checkpoints, interop with the
safetensors reference reader, and clear errors for truncated, altered and foreign files."""

from __future__ import annotations

import os
from pathlib import Path

import ml_dtypes
import numpy as np
import pytest
import torch
from safetensors.numpy import save_file as np_save_file
from safetensors.torch import load_file as torch_load_file

import zili
from zili import nn

DTYPES = ["float32", "float64", "float16", "bfloat16", "int32", "int64", "uint8", "bool"]


def _array(dtype: str, shape: tuple[int, ...], rng: np.random.Generator) -> np.ndarray:
    if dtype == "bool":
        return rng.random(shape) < 0.5
    if dtype in ("int32", "int64", "uint8"):
        return rng.integers(0, 200, shape).astype(dtype)
    np_dtype = ml_dtypes.bfloat16 if dtype == "bfloat16" else dtype
    return rng.standard_normal(shape).astype(np_dtype)


def test_round_trip_all_dtypes(tmp_path, device):
    rng = np.random.default_rng(0)
    arrays = {f"t.{d}": _array(d, (3, 2), rng) for d in DTYPES}
    arrays["scalar"] = np.array(1.5, np.float32)
    arrays["empty"] = np.zeros((0, 4), np.float32)
    state = {k: zili.tensor(a, device=device) for k, a in arrays.items()}
    path = tmp_path / "all.safetensors"
    zili.save(state, path)
    back = zili.load(path, device=device)
    assert list(back) == list(arrays)
    for k, a in arrays.items():
        assert back[k].dtype.name == (str(a.dtype) if k != "t.bfloat16" else "bfloat16")
        assert back[k].device.name == device
        np.testing.assert_array_equal(back[k].numpy(), a, err_msg=k)
    # The reference reader sees standard safetensors with the same names and values
    # (bfloat16 as the standard BF16 type).
    ref = torch_load_file(str(path))
    assert ref["t.bfloat16"].dtype is torch.bfloat16
    for k, a in arrays.items():
        np.testing.assert_array_equal(ref[k].float().numpy() if k == "t.bfloat16" else
                                      ref[k].numpy(), a.astype(np.float32)
                                      if k == "t.bfloat16" else a, err_msg=k)


def test_nested_checkpoint(tmp_path):
    zili.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 4), nn.GELU(), nn.Linear(4, 2))
    opt = zili.optim.AdamW(model.parameters(), lr=0.01)
    model(zili.randn(5, 3)).sum().backward()
    opt.step()
    ckpt = {"model": model.state_dict(), "optimizer": opt.state_dict(),
            "config": {"d_model": 4, "dtype": zili.bfloat16, "name": "小模型", "eps": 1e-5,
                       "layers": [3, 4, 2], "none": None},
            "step": 10, "rng": zili.get_rng_state()}
    path = tmp_path / "ckpt.safetensors"
    zili.save(ckpt, path, metadata={"run": "test", "tokens": 123})
    back = zili.load(path)
    assert back["config"] == ckpt["config"] and back["step"] == 10
    assert back["rng"] == ckpt["rng"]
    assert zili.io.load_metadata(path) == {"run": "test", "tokens": 123}
    assert back["optimizer"]["param_groups"] == ckpt["optimizer"]["param_groups"]
    for k, v in ckpt["model"].items():
        np.testing.assert_array_equal(back["model"][k].numpy(), v.numpy())
    fresh = nn.Sequential(nn.Linear(3, 4), nn.GELU(), nn.Linear(4, 2))
    fresh.load_state_dict(back["model"])
    opt2 = zili.optim.AdamW(fresh.parameters(), lr=0.5)
    opt2.load_state_dict(back["optimizer"])
    assert opt2.param_groups[0]["lr"] == 0.01
    state = opt2.state_dict()["state"][0]
    np.testing.assert_array_equal(state["exp_avg"].numpy(),
                                  ckpt["optimizer"]["state"][0]["exp_avg"].numpy())
    assert state["step"] == 1


def test_reads_plain_safetensors(tmp_path):
    path = str(tmp_path / "foreign.safetensors")
    a = np.arange(6, dtype=np.float32).reshape(2, 3)
    np_save_file({"w": a}, path, metadata={"format": "pt"})
    back = zili.load(path)
    np.testing.assert_array_equal(back["w"].numpy(), a)
    assert zili.io.load_metadata(path) == {"format": "pt"}


def _saved(tmp_path) -> str:
    path = str(tmp_path / "m.safetensors")
    zili.save({"w": zili.randn(16, 16), "b": zili.zeros(16), "cfg": {"n": 1}}, path)
    return path


@pytest.mark.parametrize("keep", [4, 60, -1])
def test_truncated_file(tmp_path, keep):
    path = _saved(tmp_path)
    data = Path(path).read_bytes()
    with open(path, "wb") as f:
        f.write(data[:keep] if keep >= 0 else data[:-10])
    with pytest.raises(ValueError, match=f"{path}.*(truncated|not a safetensors)"):
        zili.load(path)


@pytest.mark.parametrize("where", ["data", "header_value", "last"])
def test_altered_byte(tmp_path, where):
    path = _saved(tmp_path)
    data = bytearray(Path(path).read_bytes())
    header_len = int.from_bytes(data[:8], "little")
    if where == "data":
        pos = 8 + header_len + 100
    elif where == "header_value":
        pos = data.index(b'\\"n\\"') + 12 if b'\\"n\\"' in data else 8 + header_len - 20
        pos = data.index(b"1", pos)  # the config value 1 -> 2
    else:
        pos = len(data) - 1
    data[pos] ^= 0x03
    with open(path, "wb") as f:
        f.write(data)
    with pytest.raises(ValueError, match=f"{path}.*(checksum|corrupted)"):
        zili.load(path)


@pytest.mark.parametrize("content", [b"", b"hello world, not a tensor file",
                                     b"PK\x03\x04" + bytes(100), b"\x10" + bytes(7) + b"{bad"])
def test_foreign_file(tmp_path, content):
    path = str(tmp_path / "foreign.bin")
    with open(path, "wb") as f:
        f.write(content)
    with pytest.raises(ValueError, match=f"{path}"):
        zili.load(path)


def test_atomic_write(tmp_path, monkeypatch):
    path = _saved(tmp_path)
    before = Path(path).read_bytes()

    def failing_fsync(fd):
        raise OSError("disk full (simulated)")
    monkeypatch.setattr(os, "fsync", failing_fsync)
    with pytest.raises(OSError, match="disk full"):
        zili.save({"w": zili.ones(3)}, path)
    monkeypatch.undo()
    assert Path(path).read_bytes() == before  # the old checkpoint is untouched
    assert sorted(os.listdir(tmp_path)) == ["m.safetensors"]  # no temporary left behind
    with pytest.raises(TypeError, match=r"\['x'\]"):
        zili.save({"x": object()}, tmp_path / "bad.safetensors")
    assert sorted(os.listdir(tmp_path)) == ["m.safetensors"]
