"""The work-group renderer's paths, each on shapes that take it, on the opencl device (PoCL):
vector elementwise kernels with a scalar tail, two-pass reductions of a few long rows, and a
device without ``cl_khr_fp64`` (float accumulators with compensation). Results are compared
with NumPy in float64 and PyTorch; which path a shape takes is asked of the renderer, so a
test fails if a shape stops exercising the path it is meant for."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest
import torch

import zili
from zili.compiler.lower import lower_primitive
from zili.compiler.render_gpu import FEW_ROWS, LONG_ROW
from zili.compiler.render_opencl import OpenCLRenderer
from zili.dtype import to_dtype
from zili.ops import Op
from zili.ops.view import View

pytestmark = pytest.mark.skipif(importlib.util.find_spec("pyopencl") is None,
                                reason="pyopencl is not installed (the opencl extra)")


@pytest.fixture(scope="module")
def opencl() -> zili.devices.Device:
    try:
        return zili.get_device("opencl")
    except Exception as e:  # no OpenCL platform on this machine
        pytest.skip(f"opencl is not available: {e}")


def _reduce_path(shape: tuple[int, ...], axes: tuple[int, ...], fp64: bool = True) -> int:
    kernel, _ = lower_primitive(Op.SUM, tuple(1 if d in axes else s for d, s in
                                              enumerate(shape)), to_dtype("float32"),
                                [(View(shape), to_dtype("float32"))], axes)
    return OpenCLRenderer(dynamic=True, fp64=fp64).two_pass(kernel)


@pytest.mark.parametrize("shape", [(3, 7), (2, 4097), (5, 1), (1, 3), (4, 8), (6,)])
def test_vector_elementwise_with_tail(opencl: zili.devices.Device,
                                      shape: tuple[int, ...]) -> None:
    rng = np.random.default_rng(sum(shape))
    a = rng.standard_normal(shape).astype(np.float32)
    b = rng.standard_normal(shape[:-1] + (1,)).astype(np.float32)  # broadcast along the last
    x, y = zili.tensor(a, device=opencl), zili.tensor(b, device=opencl)
    kernel, _ = lower_primitive(Op.ADD, shape, to_dtype("float32"),
                                [(View(shape), to_dtype("float32")),
                                 (View(b.shape).expand(shape), to_dtype("float32"))], None)
    assert OpenCLRenderer(dynamic=True).vector(kernel)  # the vector path, tail included
    got = ((x * 3 + y).exp2() - x).numpy()
    want = np.exp2(a.astype(np.float64) * 3 + b) - a
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    half = (x.half() * 1.5 + y.half()).numpy()  # vload_half/vstore_half lanes
    np.testing.assert_array_equal(half, (torch.tensor(a).half() * 1.5 +
                                         torch.tensor(b).half()).numpy())
    bf = (x.bfloat16() - 1).float().numpy()  # ushort lanes through bf2f/f2bf
    np.testing.assert_array_equal(bf, (torch.tensor(a).bfloat16() - 1).float().numpy())
    i = zili.tensor((a * 10).astype(np.int32), device=opencl)
    np.testing.assert_array_equal(((i * 3) // 4 + (i % 5)).numpy(),
                                  ((a * 10).astype(np.int64) * 3) // 4 + (a * 10).astype(
                                      np.int64) % 5)
    # a strided (transposed) operand keeps the scalar kernel, with the same results
    t = zili.tensor(a.reshape(shape[0], -1).T.copy(), device=opencl).T
    np.testing.assert_allclose((t + 1).numpy(), a.reshape(shape[0], -1) + 1, rtol=1e-6)


@pytest.mark.parametrize("shape, axes", [((3, 40000), (1,)), ((2, 20000, 3), (1,)),
                                         ((40, 20000), (1,))])
def test_two_pass_reductions(opencl: zili.devices.Device, shape: tuple[int, ...],
                             axes: tuple[int, ...]) -> None:
    rows = int(np.prod(shape)) // int(np.prod([shape[d] for d in axes]))
    long_ = np.prod([shape[d] for d in axes]) >= LONG_ROW and rows <= FEW_ROWS
    assert bool(_reduce_path(shape, axes)) == bool(long_)  # the path the shape is meant for
    rng = np.random.default_rng(len(shape))
    a = rng.standard_normal(shape)
    a.flat[7] = 9.5  # a unique maximum
    x = zili.tensor(a.astype(np.float32), device=opencl, requires_grad=True)
    a32 = a.astype(np.float32).astype(np.float64)
    np.testing.assert_allclose(x.sum(axes).detach().numpy(), a32.sum(axes), rtol=1e-5,
                               atol=1e-3)
    np.testing.assert_array_equal(x.amax(axes).detach().numpy(),
                                  a.astype(np.float32).max(axes))
    ints = (a * 1000).astype(np.int64)
    np.testing.assert_array_equal(zili.tensor(ints, device=opencl).sum(axes).numpy(),
                                  ints.sum(axes))
    h = torch.tensor(a.astype(np.float16))
    if len(shape) == 2:  # float16 rows (accumulated wide, rounded once)
        np.testing.assert_allclose(zili.tensor(h.numpy(), device=opencl).sum(axes).float()
                                   .numpy(), h.double().sum(axes).half().float().numpy(),
                                   rtol=2e-3, atol=2e-2)
    # backward through the mean of a long row, against PyTorch
    x.mean(axes).pow(2).sum().backward()
    tx = torch.tensor(a.astype(np.float32), requires_grad=True)
    tx.mean(axes).pow(2).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy(), rtol=1e-4, atol=1e-9)


def test_two_pass_in_a_jitted_plan(opencl: zili.devices.Device) -> None:
    rng = np.random.default_rng(5)
    a = rng.standard_normal((2, 3 * LONG_ROW)).astype(np.float32)
    fn = zili.jit(lambda t: ((t * t).sum(-1), t.amax(-1)))
    x = zili.tensor(a, device=opencl)
    for _ in range(3):  # eager, trace, replay
        s, m = fn(x)
        np.testing.assert_allclose(s.numpy(), (a.astype(np.float64) ** 2).sum(-1), rtol=1e-5)
        np.testing.assert_array_equal(m.numpy(), a.max(-1))


@pytest.fixture(scope="module")
def no_fp64(opencl: zili.devices.Device) -> zili.devices.Device:
    from zili.devices.opencl import OpenCLDevice
    return OpenCLDevice(fp64=False)  # as a device without cl_khr_fp64 (ZILI_OPENCL_FP64=0)


@pytest.mark.parametrize("shape", [(2, 5 * LONG_ROW), (FEW_ROWS + 1, 1 << 18), (7, 33)])
def test_float_sums_without_fp64(no_fp64: zili.devices.Device,
                                 shape: tuple[int, int]) -> None:
    assert "float64" not in [d.name for d in no_fp64.capabilities().dtypes]
    assert bool(_reduce_path(shape, (1,), fp64=False)) == (shape[0] <= FEW_ROWS and
                                                          shape[1] >= LONG_ROW)
    rng = np.random.default_rng(shape[1])
    # a large common part: one group per row gives each work-item 2048 terms of the second
    # shape, where a plain float running sum drifts (1.5e-7 here) and Kahan's does not
    a = (1000 + rng.standard_normal(shape)).astype(np.float32)
    got = zili.tensor(a, device=no_fp64).sum(1).numpy()
    np.testing.assert_allclose(got, a.astype(np.float64).sum(1), rtol=1e-7)
    inf = a[:, :40].copy()
    inf[0, 3] = np.inf
    assert np.isinf(zili.tensor(inf, device=no_fp64).sum(1).numpy()[0])  # Kahan keeps inf
    b = a[:, :40] - 1000
    x = zili.tensor(b, device=no_fp64, requires_grad=True)
    (x % 0.3).sum().backward()  # MOD in float (no double helper)
    three = float(np.float32(0.3))  # the divisor as the float32 tensor holds it
    np.testing.assert_allclose((x % 0.3).detach().numpy(),
                               np.mod(b.astype(np.float64), three), atol=1e-6)
    np.testing.assert_array_equal(x.grad.numpy(), np.ones(b.shape, np.float32))
    idx = rng.integers(0, 5, (shape[0], 9))
    src = rng.standard_normal((shape[0], 9)).astype(np.float32)
    out = zili.zeros(shape[0], 5, device=no_fp64).scatter_add(
        1, zili.tensor(idx, device=no_fp64), zili.tensor(src, device=no_fp64)).numpy()
    want_s = torch.zeros(shape[0], 5, dtype=torch.float64).scatter_add(
        1, torch.tensor(idx), torch.tensor(src, dtype=torch.float64)).numpy()
    np.testing.assert_allclose(out, want_s, rtol=1e-6, atol=1e-6)
    sources = {Path(p.source_path) for p in no_fp64.__dict__.get("_programs", {}).values()}
    assert sources and not any("double" in p.read_text() for p in sources)
