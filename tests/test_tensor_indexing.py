"""``x[index]`` and ``x[index] = value`` against NumPy's indexing (forward) and gradients
through indexing against a NumPy scatter of the cotangent and against PyTorch."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from helpers import assert_close, compare, gradcheck, zt

import zili

SHAPE = (4, 5, 6)

# Every index form PyTorch/NumPy accept for basic and (adjacent) advanced indexing.
INDICES = {
    "int": 1,
    "negative_int": -1,
    "two_ints": (0, 2),
    "three_negative_ints": (-4, -5, -6),
    "slice": slice(1, None),
    "slice_stop": (slice(None), slice(None, 3)),
    "slice_step": slice(None, None, 2),
    "slice_step3_mid_axis": (slice(None), slice(1, 5, 3)),
    "negative_step": slice(None, None, -1),
    "negative_step2": (slice(None), slice(-1, 0, -2)),
    "negative_bounds": (slice(-3, -1), 0),
    "empty_slice": slice(3, 1),
    "none_front": (None, 1),
    "none_middle": (slice(None), None, 2),
    "ellipsis_last": (Ellipsis, 0),
    "ellipsis_none": (0, Ellipsis, None),
    "ellipsis_only": Ellipsis,
    "list": [0, 2, 3],
    "list_repeated_negative": [3, -1, 0, 0],
    "array_2d": np.array([[0, 1], [3, 2]]),
    "list_second_axis": (slice(None), [4, 0]),
    "adjacent_tensors": (slice(None), np.array([0, 4, 2]), np.array([5, 0, 1])),
    "broadcast_tensors": (np.array([[0], [3]]), np.array([1, 2, 4])),
    "int_then_list": (2, [1, 3]),
    "mask_full": "mask_full",
    "mask_axis0": "mask_axis0",
    "mask_two_axes_after_slice": "mask_two_axes_after_slice",
    "all_false_mask": "all_false_mask",
}


def _resolve(name: str, rng: np.random.Generator) -> object:
    index = INDICES[name]
    if not isinstance(index, str):
        return index
    if index == "mask_full":
        return rng.random(SHAPE) < 0.4
    if index == "mask_axis0":
        return np.array([True, False, True, True])
    if index == "mask_two_axes_after_slice":
        return (slice(1, 3), rng.random(SHAPE[1:]) < 0.5)
    if index == "all_false_mask":
        return np.zeros(SHAPE[0], bool)
    return index


def _as_zili(index: object, device: str, use_tensors: bool) -> object:
    """The same index with arrays turned into zili tensors (or kept as NumPy/lists)."""
    if isinstance(index, tuple):
        return tuple(_as_zili(i, device, use_tensors) for i in index)
    if isinstance(index, np.ndarray) and use_tensors:
        return zt(index, device)
    return index


def _numpy_index_grad(index: object, cot: np.ndarray) -> np.ndarray:
    """d(sum(cot * x[index]))/dx computed with NumPy: scatter-add cot to the positions."""
    positions = np.arange(np.prod(SHAPE)).reshape(SHAPE)[index]
    grad = np.zeros(int(np.prod(SHAPE)))
    np.add.at(grad, positions.reshape(-1), cot.reshape(-1))
    return grad.reshape(SHAPE)


@pytest.mark.parametrize("name", list(INDICES))
@pytest.mark.parametrize("use_tensors", [True, False])
def test_getitem_matches_numpy(device: str, name: str, use_tensors: bool) -> None:
    rng = np.random.default_rng(abs(hash(name)) % 1000)
    index = _resolve(name, rng)
    x = rng.standard_normal(SHAPE)
    expected = x[index]
    xt = zt(x, device, requires_grad=True)
    out = xt[_as_zili(index, device, use_tensors)]
    assert out.shape == expected.shape, f"{name}: {out.shape} != {expected.shape}"
    np.testing.assert_array_equal(out.detach().numpy(), expected)
    cot = rng.standard_normal(expected.shape)
    out.backward(zt(cot, device))
    assert_close(xt.grad, _numpy_index_grad(index, cot), what=f"grad of x{name}")


@pytest.mark.parametrize("name", ["int", "slice_step", "list_repeated_negative",
                                  "adjacent_tensors", "mask_full", "broadcast_tensors"])
def test_getitem_grad_matches_torch(device: str, name: str) -> None:
    rng = np.random.default_rng(3)
    index = _resolve(name, rng)
    x = rng.standard_normal(SHAPE).astype(np.float32)
    tindex = tuple(torch.tensor(i) if isinstance(i, np.ndarray) else i for i in index) \
        if isinstance(index, tuple) else torch.tensor(index) if isinstance(index, np.ndarray) \
        else index
    compare(lambda t: t[_as_zili(index, device, True)], lambda t: t[tindex], [x], device,
            "float32")


def test_getitem_gradcheck(device: str) -> None:
    rng = np.random.default_rng(0)
    x = rng.standard_normal((3, 4))
    gradcheck(lambda t: t[::-2, [1, 1, 3]], [x], device)
    gradcheck(lambda t: t[zt(np.array([[True, False, True, True]] * 3), device)], [x], device)


def test_index_with_zero_d_int_tensor(device: str) -> None:
    x = np.arange(12.0).reshape(3, 4)
    i = zt(np.array(2), device)
    np.testing.assert_array_equal(zt(x, device)[i].numpy(), x[2])
    np.testing.assert_array_equal(zt(x, device)[:, i].numpy(), x[:, 2])


@pytest.mark.parametrize("index,error", [
    (4, IndexError), (-5, IndexError), ((0, 0, 0, 0), IndexError), ([0, 4], IndexError),
    ((slice(None), [7]), IndexError), (np.array([0.0, 1.0]), IndexError),
    (np.ones((3, 5), bool), IndexError),
])
def test_getitem_errors(device: str, index: object, error: type) -> None:
    x = zt(np.zeros(SHAPE), device)
    with pytest.raises(error, match=r"index|indices|mask|bounds"):
        x[_as_zili(index, device, True)]


def test_index_out_of_bounds_message_names_axis_and_size(device: str) -> None:
    x = zt(np.zeros(SHAPE), device)
    with pytest.raises(IndexError, match=r"index 7 .*axis 1 .*size 5"):
        x[:, 7]


# --- setitem -------------------------------------------------------------------------------

SET_INDICES = ["int", "two_ints", "slice_step", "negative_step2", "none_middle", "ellipsis_last",
               "list", "adjacent_tensors", "mask_full", "mask_axis0", "empty_slice"]


@pytest.mark.parametrize("name", SET_INDICES)
@pytest.mark.parametrize("value_kind", ["scalar", "tensor"])
def test_setitem_matches_numpy(device: str, name: str, value_kind: str) -> None:
    rng = np.random.default_rng(5)
    index = _resolve(name, rng)
    x = rng.standard_normal(SHAPE)
    target_shape = x[index].shape
    value = 2.5 if value_kind == "scalar" else rng.standard_normal(target_shape[-1:] or ())
    xt = zt(x, device)
    xt[_as_zili(index, device, True)] = value if value_kind == "scalar" else zt(value, device)
    expected = x.copy()
    expected[index] = value
    np.testing.assert_array_equal(xt.numpy(), expected)


def test_setitem_repeated_index_writes_once(device: str) -> None:
    x = zt(np.zeros(4), device)
    x[[1, 1, 2]] = 5.0
    np.testing.assert_array_equal(x.numpy(), [0.0, 5.0, 5.0, 0.0])


def test_setitem_casts_value_to_tensor_dtype(device: str) -> None:
    x = zt(np.zeros(3, np.int64), device)
    x[1] = 7.9
    t = torch.zeros(3, dtype=torch.int64)
    t[1] = 7.9
    assert x.dtype is zili.int64
    np.testing.assert_array_equal(x.numpy(), t.numpy())


def test_setitem_gradients_match_torch(device: str) -> None:
    rng = np.random.default_rng(6)
    a, b = rng.standard_normal((4, 5)), rng.standard_normal((2, 5))

    def zfn(x: zili.Tensor, v: zili.Tensor) -> zili.Tensor:
        y = x * 2
        y[1:3] = v * 3
        y[0, [0, 4]] = 0.0
        return y * y

    def tfn(x: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        y = x * 2
        y[1:3] = v * 3
        y[0, [0, 4]] = 0.0
        return y * y

    compare(zfn, tfn, [a, b], device)


def test_setitem_on_leaf_requiring_grad_raises(device: str) -> None:
    x = zt(np.zeros(3), device, requires_grad=True)
    with pytest.raises(RuntimeError, match="leaf"):
        x[0] = 1.0
    with zili.no_grad():
        x[0] = 1.0
    np.testing.assert_array_equal(x.detach().numpy(), [1.0, 0.0, 0.0])


# --- index_select ----------------------------------------------------------------------------

def test_index_select_matches_torch(device: str) -> None:
    rng = np.random.default_rng(9)
    x = rng.standard_normal((4, 3, 5))
    index = np.array([2, 0, 2, 4])
    compare(lambda t, i: t.index_select(2, i), lambda t, i: t.index_select(2, i), [x, index],
            device, grad=[True, False])
    for bad in ([4], [-1]):  # negative indices are refused too, as PyTorch does
        with pytest.raises(IndexError, match="out of range"):
            torch.tensor(x).index_select(0, torch.tensor(bad))
        with pytest.raises(IndexError, match="out of range"):
            zt(x, device).index_select(0, zt(np.array(bad), device))
