"""The compiled-device contract: a device without a BLAS runs MATMUL through the compiler's
kernel, binaries are cached on disk, and failures name the kernel and its source."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import zili
from zili.devices import CompiledDevice, get_device
from zili.devices import device as registry


def _without_blas(name: str) -> CompiledDevice:
    """A fresh instance of compiled device ``name`` whose MATMUL is the compiler's kernel."""
    base = type(get_device(name))
    if not base.compiles:
        pytest.skip(f"{name} is an interpreter")
    cls = type(f"{base.__name__}NoLibrary", (base,), {"matmul": None})
    return cls()


@pytest.fixture
def compiled_device(device: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """``device`` with MATMUL taken from the compiler, registered under a new name."""
    instance = _without_blas(device)
    monkeypatch.setattr(registry, "_FACTORIES", dict(registry._FACTORIES))
    monkeypatch.setattr(registry, "_PRIORITY", dict(registry._PRIORITY))
    monkeypatch.setattr(registry, "_INSTANCES", dict(registry._INSTANCES))
    name = f"{device}-kernel-matmul"
    registry.register_device(name, lambda: instance, priority=-100)
    return name


@settings(max_examples=8, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])  # fixture is stateless
@given(m=st.integers(1, 40), k=st.integers(0, 37), n=st.integers(1, 40),
       batch=st.integers(1, 3), flip=st.booleans(), transpose=st.booleans())
def test_compiler_matmul_matches_torch(compiled_device: str, m: int, k: int, n: int,
                                       batch: int, flip: bool, transpose: bool) -> None:
    rng = np.random.default_rng(m * 1000 + k * 10 + n)
    a = rng.standard_normal((batch, k, m) if transpose else (batch, m, k)).astype(np.float32)
    b = rng.standard_normal((batch, k + 2, n)).astype(np.float32)
    x = zili.tensor(a, device=compiled_device, requires_grad=True)
    y = zili.tensor(b, device=compiled_device, requires_grad=True)
    xt = torch.tensor(a, requires_grad=True)
    yt = torch.tensor(b, requires_grad=True)
    xv, xtv = (x.transpose(-1, -2), xt.transpose(-1, -2)) if transpose else (x, xt)
    yv, ytv = y[:, 1:k + 1], yt[:, 1:k + 1]  # an offset view
    if flip:
        yv, ytv = yv.flip(-1), ytv.flip(-1)  # negative strides
    out, expected = xv @ yv, xtv @ ytv
    np.testing.assert_allclose(out.detach().numpy(), expected.detach().numpy(), rtol=1e-4,
                               atol=1e-4)
    out.sum().backward()
    expected.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), xt.grad.numpy(), rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(y.grad.numpy(), yt.grad.numpy(), rtol=1e-4, atol=1e-4)


def test_compiler_matmul_under_jit(compiled_device: str) -> None:
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((7, 5)), rng.standard_normal((5, 3))
    x, y = zili.tensor(a, device=compiled_device), zili.tensor(b, device=compiled_device)
    step = zili.jit(lambda p, q: (p @ q).relu() * 2)
    results = [step(x, y).numpy() for _ in range(3)]  # eager, trace, replay
    assert all(s.kind != "matmul" for s in step.plan.steps)
    for r in results:
        np.testing.assert_allclose(r, np.maximum(a @ b, 0) * 2, rtol=1e-12)


def test_binaries_are_cached_on_disk(device: str, tmp_path, monkeypatch) -> None:
    instance = _without_blas(device)
    monkeypatch.setenv("ZILI_CACHE_DIR", str(tmp_path))
    renderer = instance.renderer(dynamic=True)
    from zili.compiler.lower import lower_primitive
    from zili.compiler.runtime import Signature
    from zili.ops import Op
    from zili.ops.view import View
    kernel, _ = lower_primitive(Op.ADD, (5,), zili.float32,
                                [(View((5,)), zili.float32)] * 2, None)
    source, ints = renderer.render(kernel)
    program = instance.compile(kernel.name, source, Signature(3, len(ints), False))
    assert program.source_path.read_text() == source
    binaries = [p for p in (tmp_path / instance.name).iterdir()
                if p != program.source_path and p.suffix != ".sha256"]
    assert len(binaries) == 1  # the binary, beside its source and its digest
    # A second device instance (a new process, in effect) loads the binary without building.
    again = type(instance)()
    monkeypatch.setattr(again, "build", lambda *a: pytest.fail("rebuilt a cached kernel"))
    assert again.compile(kernel.name, source, Signature(3, len(ints), False)) is not None
