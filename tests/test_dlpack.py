"""DLPack both ways: zili shares memory with NumPy and PyTorch (the oracles) on the host."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import zili
from zili.io.dlpack import shares_host_memory

torch = pytest.importorskip("torch")

shapes = st.lists(st.integers(1, 5), min_size=1, max_size=3).map(tuple)


@settings(max_examples=15, deadline=None)
@given(shape=shapes, dtype=st.sampled_from([np.float32, np.float64, np.int64, np.float16]))
def test_from_numpy_shares_memory(shape, dtype):
    for device in ("numpy", "cpu"):
        a = np.arange(int(np.prod(shape))).astype(dtype).reshape(shape)
        t = zili.from_dlpack(a, device=device)
        assert t.shape == shape and t.dtype.numpy == dtype
        a.reshape(-1)[0] = 7  # a write through NumPy shows in zili: no copy was made
        np.testing.assert_array_equal(t.numpy(), a)


def test_torch_to_zili_and_back_share_memory(device):
    if zili.get_device(device).adopt_numpy(np.zeros(1, np.float32)) is None:
        pytest.skip(f"{device} memory is not host memory: DLPack exchange copies there")
    src = torch.arange(24, dtype=torch.float32).reshape(4, 6)
    t = zili.from_dlpack(src, device=device)
    z = zili.arange(24, dtype=zili.float32, device=device).reshape(4, 6)
    if not shares_host_memory(zili.get_device(device)):
        # An accelerator's memory is its own: the import copies, the export refuses.
        np.testing.assert_array_equal(t.numpy(), src.numpy())
        with pytest.raises(BufferError, match="to\\('cpu'\\)"):
            np.from_dlpack(z)
        return
    src[1, 2] = -3.0
    np.testing.assert_array_equal(t.numpy(), src.numpy())
    view = z.transpose(0, 1)[1:4]  # a strided view travels as strides, not as a copy
    out = torch.from_dlpack(view)
    np.testing.assert_array_equal(out.numpy(), view.numpy())
    arr = np.from_dlpack(z)
    assert np.shares_memory(arr, np.from_dlpack(z))
    arr[0, 0] = 42.0
    assert z.numpy()[0, 0] == 42.0
    assert z.__dlpack_device__() == (1, 0)


def test_dlpack_errors_name_the_remedy():
    w = zili.ones(3, requires_grad=True)
    with pytest.raises(BufferError, match="detach"):
        np.from_dlpack(w)
    with pytest.raises(TypeError, match="__dlpack__"):
        zili.from_dlpack([1, 2, 3])
