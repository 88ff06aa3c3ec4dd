"""The cuda device without a GPU: every kernel the compiler generates for a representative
workload (every primitive over every dtype and view kind, composites forward and backward,
a jitted GPT training step) rendered in the CUDA dialect and compiled by NVRTC for sm_80
and sm_90; NVRTC's errors name the kernel; asking for 'cuda' where it cannot run raises one
clear line. Running these kernels needs a GPU: nothing here launches one.

The kernels are collected from a fresh instance of the cpu device (so no cache hides any)
that renders every kernel but compiles and launches none, and has no BLAS, so MATMUL
becomes the compiler's tiled kernel as on the GPU: the compiler hands the cpu renderer
exactly the kernels it would hand the cuda one, and values do not change which kernels are
made. All of them are compiled unoptimised (``-G``: NVRTC's front end, code
generation and ptxas for the architecture, minutes faster); the largest also optimised.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys

import numpy as np
import pytest

import zili
import zili.nn.functional as F  # noqa: N812
from zili.compiler.render_c import CRenderer
from zili.compiler.render_cuda import PRELUDE, CUDARenderer
from zili.devices import cuda as cuda_device
from zili.tensor import math_ops

pytestmark = pytest.mark.skipif(cuda_device.nvrtc_version() is None,
                                reason="NVRTC (pip nvidia-cuda-nvrtc + cuda-bindings) missing")

DTYPES = ["float32", "float64", "float16", "bfloat16", "int32", "int64", "uint8", "bool", "int8",
          "int16", "uint16", "uint32", "uint64"]


def _workload(dev: zili.devices.Device) -> None:
    """Run eager primitives, views, composites with backward, and a jitted training step."""
    rng = np.random.default_rng(0)
    base = rng.standard_normal((3, 5)).astype(np.float32)
    for name in DTYPES:
        dt = getattr(zili, name if name != "bool" else "bool")
        x = zili.tensor(base, device=dev).to(dt)
        y = zili.tensor(base[::-1].copy(), device=dev).to(dt)
        if dt in zili.dtype.LIMITED:  # what PyTorch (and so zili) has for uint16/32/64
            _ = x * y, x == y, x & y, x | y, x ^ y, x.sum(1), x.prod(0), x / y
            _ = x.permute(1, 0).sum(), x[1:, ::2] * 2, x.to(zili.float32), x.sort(1)
        elif name != "bool":
            _ = x + y, x - y, x * y, x.maximum(y), x < y, x == y, -x, x.sum(1), x.amax(0)
            _ = x.permute(1, 0).sum(), x[1:, ::2] * 2, x.flip(0), x.to(zili.float32)
        if not dt.is_floating_point and dt not in zili.dtype.LIMITED:
            _ = x & y, x | y, x ^ y, x.amin(1)
        if name in ("int32", "int64", "int8", "int16"):
            _ = x // (y.abs() + 1), x % (y.abs() + 1), x << 2, x >> 1
        if dt.is_floating_point:
            _ = x.exp(), x.log(), x.sin(), x.sqrt(), x.reciprocal(), x / y, x % y, x.pow(2)
            _ = x.where(x > 0, y), x.softmax(-1), x.matmul(y.T)
    long_rows = zili.tensor(rng.standard_normal((2, 1 << 14)).astype(np.float32), device=dev)
    _ = long_rows.sum(1), long_rows.amax(1)  # two-pass reductions (a few long rows)
    index = zili.tensor(rng.integers(0, 5, (3, 4)), device=dev)
    table = zili.tensor(base, device=dev, requires_grad=True)
    picked = table.gather(1, index)
    picked.sum().backward()
    _ = zili.zeros(3, 5, device=dev).scatter_add(1, index, picked.detach())
    zili.manual_seed(0)
    _ = zili.rand(4, 3, device=dev), zili.randn(7, device=dev, dtype=zili.float64)
    # composites forward and backward
    q = zili.tensor(rng.standard_normal((2, 2, 6, 8)).astype(np.float32), device=dev,
                    requires_grad=True)
    w = zili.tensor(rng.standard_normal((8,)).astype(np.float32), device=dev,
                    requires_grad=True)
    target = zili.tensor(rng.integers(0, 8, (2, 2, 6)), device=dev)
    loss = F.scaled_dot_product_attention(q, q, q, is_causal=True).sum() + \
        F.layer_norm(q, (8,), w, w).mean() + F.gelu(q).mean() + \
        F.cross_entropy(q.reshape(-1, 8), target.reshape(-1)) + F.rms_norm(q, (8,), w).var()
    loss.backward()
    with zili.autocast(dev.name):
        F.linear(q, q[0, 0], w[:6]).float().sum().backward()
    # a jitted training step of a small GPT: the fused (static) kernels of a plan
    from zili.models.gpt import GPT, GPTConfig
    zili.manual_seed(0)
    model = GPT(GPTConfig(vocab_size=32, block_size=8, n_layer=1, n_head=2, n_embd=16))
    model.to(dev)
    opt = zili.optim.AdamW(model.parameters(), lr=1e-3)

    def step(idx: zili.Tensor, targets: zili.Tensor) -> zili.Tensor:
        opt.zero_grad()
        out = model(idx, targets)
        loss = out[1] if isinstance(out, tuple) else out
        loss.backward()
        opt.step()
        return loss.detach()

    jitted = zili.jit(step)
    idx = zili.tensor(rng.integers(0, 32, (2, 8)), device=dev)
    for _ in range(3):
        jitted(idx, idx)


@pytest.fixture(scope="module")
def kernels() -> list[tuple[str, str]]:
    """(name, CUDA source) of every distinct kernel the workload generated."""
    seen: list = []
    original = CRenderer.render

    def record(self: CRenderer, kernel: object) -> object:
        seen.append((kernel, self.dynamic))
        return original(self, kernel)

    class Recorder(type(zili.get_device("cpu"))):
        # The generic kernels only: the cpu device's own hand-written C (fused attention,
        # GEMM) is not the compiler's output and has CUDA counterparts of its own.
        fused_composites: dict = {}

        matmul = None  # MATMUL through the compiler's tiled kernel, as on the GPU

        def compile(self, *args: object) -> None:
            return None

        def launch(self, *args: object) -> bool:
            return False

        def launcher(self, launchable: object) -> object:
            return launchable.run  # through launch above, not the cpu's direct C call

    CRenderer.render = record
    # Kernels are rendered, never run, so buffers hold garbage: the eager zero-divisor check
    # of integer division would read it (its own kernels are still rendered and recorded).
    check = math_ops.refuse_zero_divisor
    math_ops.refuse_zero_divisor = lambda divisor, op: (divisor == 0).any()
    try:
        _workload(Recorder())
    finally:
        CRenderer.render = original
        math_ops.refuse_zero_divisor = check
    sources: dict[str, str] = {}
    for kernel, dynamic in seen:
        source, _ = CUDARenderer(dynamic=dynamic).render(kernel)
        sources.setdefault(source, kernel.name)
    return [(name, source) for source, name in sources.items()]


def _one_unit(kernels: list[tuple[str, str]]) -> str:
    """All kernels in one translation unit (one NVRTC call), renamed apart."""
    parts = [PRELUDE]
    for k, (name, source) in enumerate(kernels):
        assert source.startswith(PRELUDE)
        body = source[len(PRELUDE):]
        parts.append(re.sub(rf"\b{name}\(", f"{name}_{k}(", body, count=1))
    return "\n".join(parts)


@pytest.mark.parametrize("arch", cuda_device.ARCHITECTURES)
def test_every_generated_kernel_compiles_with_nvrtc(kernels, arch):
    assert len(kernels) > 100, f"the workload produced only {len(kernels)} kernels"
    kinds = " ".join(source for _, source in kernels)
    for feature in ("zili_block<float>", "zili_block<double>", "zili_block<long long>",
                    "bf2f(", "h2f(", "rnd0", "zerr", "__shared__ float As"):
        assert feature in kinds, f"no generated kernel uses {feature}"
    try:
        cubin = cuda_device.nvrtc_compile("zili_suite", _one_unit(kernels), arch, ("-G",))
    except cuda_device.CompileError:
        for name, source in kernels:  # name the kernel that fails
            cuda_device.nvrtc_compile(name, source, arch, ("-G",))
        raise
    assert cubin[:4] == b"\x7fELF"  # a cubin is an ELF image
    largest = sorted(kernels, key=lambda k: -len(k[1]))[:6]
    assert cuda_device.nvrtc_compile("zili_largest", _one_unit(largest), arch)[:4] == b"\x7fELF"


def test_nvrtc_errors_name_the_kernel():
    broken = 'extern "C" __global__ void e_broken(float* b0) { b0[0] = undefined_name; }'
    with pytest.raises(cuda_device.CompileError, match=r"e_broken.*sm_90(.|\n)*undefined_name"):
        cuda_device.nvrtc_compile("e_broken", broken, "sm_90")


def test_cuda_where_absent_raises_one_clear_line():
    if zili.cuda.is_available():
        pytest.skip("a CUDA GPU is present")
    code = ("import zili\n"
            "try:\n    zili.ones(2).to('cuda')\n"
            "except RuntimeError as e:\n    print('ERR', e)\n"
            "assert not zili.cuda.is_available() and zili.cuda.device_count() == 0\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120)
    line = done.stdout.strip()
    assert done.returncode == 0, done.stderr
    assert line.startswith("ERR device 'cuda' is not available:") and "\n" not in line
    assert "device='cpu'" in line
    # ZILI_DEVICE=cuda: the same single line, from the first tensor, with a short traceback
    done = subprocess.run([sys.executable, "-c", "import zili; zili.ones(2)"],
                          capture_output=True, text=True, timeout=120,
                          env={**os.environ, "ZILI_DEVICE": "cuda"})
    assert done.returncode == 1
    last = done.stderr.strip().splitlines()
    assert last[-1].startswith("zili.devices.cuda.CUDAUnavailableError: device 'cuda' is not")
    assert sum(line.startswith("  File ") for line in last) <= 6
