"""PyTorch's keyword aliases (axis=, keepdims=) and integer constants that wrap like C and
PyTorch, checked against PyTorch on every device."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tests.helpers import zt


@pytest.mark.parametrize("name", ["sum", "mean", "amax", "amin", "any", "all", "logsumexp",
                                  "std", "var", "prod", "argmax"])
def test_axis_and_keepdims_aliases_match_pytorch(device, name):
    x = np.random.default_rng(0).standard_normal((3, 4))
    kwargs = dict(axis=1, keepdims=True) if name not in ("prod",) else dict(axis=1)
    if name == "logsumexp":
        kwargs = dict(dim=1, keepdims=True)  # PyTorch's logsumexp has no axis alias
    z = getattr(zt(x, device), name)(**kwargs)
    t = getattr(torch.tensor(x), name)(**kwargs)
    np.testing.assert_allclose(z.numpy().astype(float), t.numpy().astype(float), rtol=1e-12)
    with pytest.raises(TypeError):
        zt(x, device).sum(dim=0, axis=1)


@pytest.mark.parametrize("np_dtype,value", [(np.int32, 0xFFFFFFFF), (np.uint8, 300),
                                            (np.int64, 2**64 - 1), (np.int32, -2**31 - 1)])
def test_integer_constants_wrap_as_pytorch(device, np_dtype, value):
    data = np.array([5, -3, 0, 7], np.int64).astype(np_dtype)
    z, t = zt(data, device), torch.from_numpy(data.copy())
    np.testing.assert_array_equal((z | value).numpy(), (t | value).numpy())
    np.testing.assert_array_equal((z + value).numpy(), (t + value).numpy())
