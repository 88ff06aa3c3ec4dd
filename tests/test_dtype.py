"""zili.dtype against NumPy and PyTorch: names, aliases, sizes, categories, conversions."""

from __future__ import annotations

import ml_dtypes
import numpy as np
import pytest
import torch
from helpers import TORCH_DTYPE

import zili
import zili.errors
from zili import dtype as dtypes

ALL = dtypes.ALL_DTYPES


@pytest.mark.parametrize("dt", ALL, ids=lambda d: d.name)
def test_dtype_facts_match_torch_and_numpy(dt: dtypes.DType) -> None:
    t = TORCH_DTYPE[dt.name]
    assert dt.itemsize == t.itemsize == np.dtype(dt.numpy).itemsize
    assert dt.is_floating_point == t.is_floating_point
    assert dt.is_signed == t.is_signed
    assert dtypes.to_dtype(dt.name) is dt
    assert dtypes.to_dtype(np.dtype(dt.numpy)) is dt
    assert dtypes.to_dtype(dt) is dt
    assert repr(dt) == f"zili.{dt.name}"


def test_aliases_match_torch() -> None:
    for alias in ("float", "double", "half", "long", "int"):
        assert getattr(zili, alias).name == str(getattr(torch, alias))[6:]
        assert dtypes.to_dtype(alias) is getattr(zili, alias)
    assert zili.bool is dtypes.bool_
    assert dtypes.to_dtype(float) is zili.float32
    assert dtypes.to_dtype(int) is zili.int64
    assert dtypes.to_dtype(bool) is zili.bool
    assert dtypes.to_dtype(ml_dtypes.bfloat16) is zili.bfloat16


@pytest.mark.parametrize("value", ["float128", "complex64", np.complex64, object])
def test_unknown_dtype_names_the_supported_ones(value: object) -> None:
    with pytest.raises(TypeError, match="float32"):
        dtypes.to_dtype(value)


@pytest.mark.parametrize("data", [1.5, 2, True, [1, 2], [1.0, 2], [[True, False]], [1, 2.5]])
def test_tensor_default_dtype_from_python_data_matches_torch(device: str, data: object) -> None:
    z, t = zili.tensor(data, device=device), torch.tensor(data)
    assert z.dtype.name == str(t.dtype)[6:]
    assert z.shape == tuple(t.shape)
    np.testing.assert_array_equal(z.numpy(), t.numpy())


@pytest.mark.parametrize("dt", ALL, ids=lambda d: d.name)
def test_numpy_arrays_keep_their_dtype(device: str, dt: dtypes.DType) -> None:
    a = (np.arange(6).reshape(2, 3) % 3).astype(dt.numpy)
    z = zili.tensor(a, device=device)
    assert z.dtype is dt
    out = z.numpy()
    assert out.dtype == a.dtype and out.shape == a.shape
    np.testing.assert_array_equal(out, a)


def _promoted(a: dtypes.DType, b: dtypes.DType) -> dtypes.DType | None:
    try:
        return dtypes.promote_types(a, b)
    except zili.errors.DTypeError:
        return None


def test_promote_types_is_symmetric() -> None:
    for a in ALL:
        for b in ALL:
            assert _promoted(a, b) is _promoted(b, a)


def test_python_scalar_dtype() -> None:
    assert dtypes.python_scalar_dtype(True) is zili.bool
    assert dtypes.python_scalar_dtype(3) is zili.int64
    assert dtypes.python_scalar_dtype(3.0) is zili.float32
    with pytest.raises(TypeError, match="str"):
        dtypes.python_scalar_dtype("3")
    with pytest.raises(TypeError, match="dtype"):
        dtypes.result_type("x")
