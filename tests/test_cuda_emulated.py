"""The CUDA dialect's kernels run under the CPU emulator (tests/cuda_emulator.py) and give
the numpy device's results: elementwise work over every view kind, row and whole-tensor
reductions (warp shuffles and shared memory), gather, scatter_add, random, half types.

This checks what the generated CUDA computes and that its threads and blocks split the work
correctly; it is not a run on a GPU (none was available).
"""

from __future__ import annotations

import re
import shutil

import ml_dtypes
import numpy as np
import pytest
from cuda_emulator import build, for_cpu, launch, wrapper

import zili
from zili.compiler.render_cuda import CUDARenderer
from zili.devices.numpy import NumpyDevice
from zili.ops import Op
from zili.ops.view import View

try:  # where the device contract put them (and MATMUL became a compiler kernel)
    from zili.compiler.lower import lower_primitive
    MATMUL_LOWERED = True
except ImportError:
    from zili.compiler.runtime import lower_primitive
    MATMUL_LOWERED = False
from zili.compiler.runtime import random_base

pytestmark = pytest.mark.skipif(shutil.which("g++") is None, reason="no g++ for the emulator")

F32, F16, BF16, F64 = zili.float32, zili.float16, zili.bfloat16, zili.float64
I32, I64, BOOL = zili.int32, zili.int64, zili.bool


def _cases() -> list[tuple]:
    """(name, op, shape, dtype, [(array, view)], arg)."""
    rng = np.random.default_rng(3)
    r = rng.standard_normal
    a45 = r((5, 4)).astype(np.float32)
    cases = [
        ("add_permuted", Op.ADD, (4, 5), F32, [(a45, View((5, 4)).permute((1, 0))),
                                               (r(20).astype(np.float32), View((4, 5)))], None),
        ("mul_bf16", Op.MUL, (3, 7), BF16, [(r(21).astype(ml_dtypes.bfloat16), View((3, 7)))] * 2,
         None),
        ("div_int64", Op.DIV, (6,), I64, [(np.array([7, -7, 9, -9, 5, 0]), View((6,))),
                                          (np.array([2, 2, -4, -4, 0, 3]), View((6,)))], None),
        ("mod_f32", Op.MOD, (5,), F32, [(r(5).astype(np.float32) * 5, View((5,))),
                                        (np.array([2, -2, 3, -3, 1.5], np.float32), View((5,)))],
         None),
        ("where_f16", Op.WHERE, (8,), F16, [(rng.random(8) > 0.5, View((8,))),
                                            (r(8).astype(np.float16), View((8,))),
                                            (r(8).astype(np.float16), View((8,)))], None),
        ("cast_f16", Op.CAST, (9,), F16, [(r(9).astype(np.float32) * 1e3, View((9,)))], F16),
        ("cast_i32", Op.CAST, (6,), I32, [(r(6) * 50, View((6,)))], I32),
        ("exp2_flipped", Op.EXP2, (3, 4), F64, [(r(12), View((3, 4)).flip((0, 1)))], None),
        ("add_padded", Op.ADD, (4, 6), F32,
         [(r(8).astype(np.float32), View((2, 4)).pad(((1, 1), (1, 1)))),
          (r(24).astype(np.float32), View((4, 6)))], None),
        ("sum_rows", Op.SUM, (5, 1), F32, [(r(1500).astype(np.float32), View((5, 300)))], (1,)),
        ("amax_cols_nan", Op.AMAX, (1, 3), F16,
         [(np.where(np.arange(210) == 100, np.nan, r(210)).astype(np.float16), View((70, 3)))],
         (0,)),
        ("sum_all_int", Op.SUM, (1, 1), I64, [(rng.integers(-9, 9, 132), View((4, 33)))], (0, 1)),
        ("gather", Op.GATHER, (3, 4), F32, [(r(15).astype(np.float32), View((3, 5))),
                                            (rng.integers(0, 5, 12), View((3, 4)))], 1),
        ("scatter_add", Op.SCATTER_ADD, (3, 5), F32,
         [(rng.integers(0, 5, 12), View((3, 4))), (r(12).astype(np.float32), View((3, 4)))], 1),
        ("random", Op.RANDOM, (300,), F32, [], (1234, 77)),
    ]
    if MATMUL_LOWERED:  # the tiled kernel (shared-memory tiles, 3-D launch geometry)
        cases.append(("matmul", Op.MATMUL, (2, 37, 45), F32,
                      [(r(2 * 37 * 20).astype(np.float32), View((2, 37, 20))),
                       (r(45 * 20).astype(np.float32), View((45, 20)).permute((1, 0))
                        .reshape((1, 20, 45)).expand((2, 20, 45)))], None))
    return cases


@pytest.fixture(scope="module")
def compiled(tmp_path_factory):
    """Every case's kernel rendered in CUDA, all built into one emulated library."""
    prepared, parts = [], []
    for k, (name, op, shape, dtype, inputs, arg) in enumerate(_cases()):
        kernel, order = lower_primitive(op, shape, dtype, [(v, zili.dtype.to_dtype(a.dtype))
                                                           for a, v in inputs], arg)
        renderer = CUDARenderer(dynamic=True)
        source, ints = renderer.render(kernel)
        geometry = renderer.geometry(kernel) if hasattr(renderer, "geometry") else None
        entry = f"k{k}_{kernel.name}"
        head = re.search(rf"\b{kernel.name}\((.*?)\) {{", source)
        params = [p.rsplit(" ", 1)[0].replace("__restrict__", "").strip()
                  for p in head.group(1).split(", ")]
        body = source.replace(f"{kernel.name}(", f"{entry}(", 1)
        if k:  # the prelude once
            body = body[body.index('extern "C"'):]
        parts.append(for_cpu(body) + wrapper(entry, params))
        prepared.append((name, op, shape, dtype, inputs, arg, order, ints, geometry,
                         entry, params))
    library = build("\n".join(parts), tmp_path_factory.mktemp("cuda_emulated"))
    return library, prepared


def test_generated_kernels_compute_what_the_numpy_device_does(compiled):
    library, prepared = compiled
    numpy_device = NumpyDevice()
    for name, op, shape, dtype, inputs, arg, order, ints, geometry, entry, params \
            in prepared:
        flat = [np.ascontiguousarray(a).reshape(-1) for a, _ in inputs]
        expected = np.asarray(numpy_device.execute(
            op, shape, dtype, [(f, v, zili.dtype.to_dtype(f.dtype)) for f, (_, v) in
                               zip(flat, inputs)], arg)).reshape(shape)
        out = np.zeros(int(np.prod(shape)), dtype.numpy)
        buffers = [out if b < 0 else flat[b] for b in order]
        if len(buffers) < sum(p.endswith("*") for p in params):
            buffers.append(np.zeros(1, np.int32))  # the index-error flag
        bases = [random_base(*arg)] if op is Op.RANDOM else []
        if geometry is None:  # grid-stride kernels: any geometry; a small one on purpose
            grid, block = (3,), (64,)
        else:
            (total, local) = geometry
            grid, block = tuple(-(-t // s) for t, s in zip(total, local)), tuple(local)
        launch(library, entry, grid, block, buffers, [*bases, *ints])
        got = out.reshape(shape)
        if dtype.is_floating_point:
            tol = 1e-2 if dtype.itemsize == 2 else 1e-5
            np.testing.assert_allclose(got.astype(np.float64), expected.astype(np.float64),
                                       rtol=tol, atol=tol, err_msg=name)
        else:
            np.testing.assert_array_equal(got, expected, err_msg=name)
