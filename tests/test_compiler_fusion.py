"""The fusion scheduler, counted in kernels, and the cpu device's compile machinery.

Values are checked against NumPy in float64; kernel counts are properties of the schedule
that a regression in fusion would break."""

from __future__ import annotations

import numpy as np
import pytest

import zili
from zili.compiler.runtime import Stats


def _jit_twice(fn, *arrays):  # first call eager, second traces and compiles
    jitted = zili.jit(fn)
    for _ in range(2):
        out = jitted(*[zili.tensor(a, device="cpu") for a in arrays])
    return jitted, out


def test_exp_sum_chain_is_one_kernel(cpu: str) -> None:
    rng = np.random.default_rng(0)
    a, b, c = (rng.standard_normal((7, 33)) for _ in range(3))
    jitted, out = _jit_twice(lambda a, b, c: ((a * b) + c).exp().sum(-1), a, b, c)
    assert jitted.plan.kernel_count == 1, jitted.plan.describe()
    np.testing.assert_allclose(out.numpy(), np.exp(a * b + c).sum(-1), rtol=1e-12)


def test_layer_norm_forward_is_at_most_two_kernels(cpu: str) -> None:
    rng = np.random.default_rng(1)
    x, w, b = rng.standard_normal((6, 40)), rng.standard_normal(40), rng.standard_normal(40)
    jitted, out = _jit_twice(
        lambda x, w, b: zili.nn.functional.layer_norm(x, (40,), w, b), x, w, b)
    assert jitted.plan.kernel_count <= 2, jitted.plan.describe()
    mean = x.mean(-1, keepdims=True)
    ref = (x - mean) / np.sqrt(x.var(-1, keepdims=True) + 1e-5) * w + b
    np.testing.assert_allclose(out.numpy(), ref, rtol=1e-9, atol=1e-9)


def test_softmax_is_one_kernel(cpu: str) -> None:
    x = np.random.default_rng(2).standard_normal((5, 17))
    jitted, out = _jit_twice(lambda x: x.softmax(-1), x)
    assert jitted.plan.kernel_count == 1, jitted.plan.describe()
    e = np.exp(x - x.max(-1, keepdims=True))
    np.testing.assert_allclose(out.numpy(), e / e.sum(-1, keepdims=True), rtol=1e-12)


def test_eager_kernels_are_shared_across_shapes(cpu: str) -> None:
    rng = np.random.default_rng(3)
    x = zili.tensor(rng.standard_normal((9, 4)), device="cpu")
    (x * x).numpy()
    before = Stats.compiled
    for shape in [(3, 5), (11, 2), (4, 4, 4)]:
        a = rng.standard_normal(shape)
        t = zili.tensor(a, device="cpu")
        np.testing.assert_allclose((t * t).numpy(), a * a)
    # A contiguous elementwise product flattens to one loop: no new program for new shapes.
    assert Stats.compiled - before <= 3
    programs = zili.get_device("cpu")._programs
    assert len({p.source_path for p in programs.values() if "e_mul" in p.name}) >= 1


def test_compile_error_names_the_source(cpu: str) -> None:
    from zili.compiler.runtime import Signature
    from zili.devices.compiled import CompileError
    with pytest.raises(CompileError, match=r"source: .*\.c"):
        zili.get_device("cpu").compile("broken", "int broken( {", Signature(0, 0, False))


def test_debug_prints_kernels(cpu: str, monkeypatch: pytest.MonkeyPatch,
                              capsys: pytest.CaptureFixture[str]) -> None:
    from zili.compiler import runtime

    monkeypatch.setattr(runtime, "DEBUG", 1)  # ZILI_DEBUG=1 when zili is imported
    x = zili.tensor(np.arange(6.0), device="cpu")
    (x + 1).numpy()
    assert "e_add" in capsys.readouterr().err


def test_debug_set_while_running_prints_kernels_used_before(
        cpu: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """A kernel first launched without ZILI_DEBUG (the cpu device then calls its C function
    directly) is still timed and printed once DEBUG is set."""
    from zili.compiler import runtime

    x = zili.tensor(np.arange(7.0), device="cpu")
    monkeypatch.setattr(runtime, "DEBUG", 0)
    (x * 3).numpy()
    capsys.readouterr()
    monkeypatch.setattr(runtime, "DEBUG", 1)
    np.testing.assert_array_equal((x * 3).numpy(), np.arange(7.0) * 3)
    assert "e_mul" in capsys.readouterr().err
