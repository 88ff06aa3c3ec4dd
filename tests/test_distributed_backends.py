"""The backend slot of zili.distributed (issue 13): ``nccl`` is registered, says what to
install when CuPy's NCCL is missing, and takes only tensors of devices that name it (their
own buffers, not copies). No GPU here: the NCCL transfers themselves are not exercised."""

from __future__ import annotations

import numpy as np
import pytest

import zili
import zili.distributed as dist
from zili.distributed import nccl, process_group
from zili.distributed.backend import Backend


class _DeviceBackend(Backend):
    """A backend that serves devices naming ``collectives = "test"`` (no transfers)."""

    name = "test"
    device_collectives = "test"
    dtypes = ("float32",)


def test_nccl_is_a_registered_backend_with_a_clear_error_without_cupy() -> None:
    assert "nccl" in dist.registered_backends()
    if nccl.nccl_problem() is None:
        pytest.skip("CuPy's NCCL loads here: the missing-library error cannot happen")
    with pytest.raises(ImportError, match=r"nccl.*pip install.*backend='mpi'"):
        dist.init_process_group("nccl")
    assert not dist.is_initialized()


def test_unknown_backend_names_the_registered_ones() -> None:
    with pytest.raises(ValueError, match=r"no backend 'hccl'.*'mpi', 'nccl'"):
        dist.init_process_group("hccl")


def test_a_device_backend_refuses_tensors_of_other_devices() -> None:
    t = zili.ones(4, device="numpy")
    with pytest.raises(TypeError, match=r"test backend.*numpy.*backend='mpi'"):
        process_group.device_array(t, _DeviceBackend(), "all_reduce")


@pytest.mark.parametrize("shape,offset", [((3, 5), 0), ((7,), 4)])
def test_a_device_backend_gets_the_tensors_own_memory(monkeypatch: pytest.MonkeyPatch,
                                                      shape: tuple[int, ...],
                                                      offset: int) -> None:
    device = zili.get_device("numpy")
    monkeypatch.setattr(device, "collectives", "test", raising=False)
    values = np.random.default_rng(0).standard_normal(offset + int(np.prod(shape)))
    base = zili.tensor(values.astype(np.float32), device="numpy")
    t = base[offset:].reshape(shape)  # a contiguous view at an offset
    array = process_group.device_array(t, _DeviceBackend(), "all_reduce")
    np.testing.assert_array_equal(array, values[offset:].astype(np.float32).reshape(shape))
    array *= 2  # what a backend writes lands in the tensor (no copy)
    np.testing.assert_array_equal(t.numpy(), 2 * values[offset:].astype(np.float32)
                                  .reshape(shape))
    with pytest.raises(TypeError, match="dtype int64"):
        process_group.device_array(zili.ones(3, dtype=zili.int64, device="numpy"),
                                   _DeviceBackend(), "all_reduce")
