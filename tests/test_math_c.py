"""The C dialect's own float32 exp2/log2 (zili/compiler/math_c.py) against float64 NumPy.

The module's docstring states the worst error over all 2^32 inputs (found exhaustively with a
C loop); here a dense, evenly spread sample of bit patterns plus random draws and every
special value keep those bounds true on the cpu device, eager and jitted alike.
"""

from __future__ import annotations

import shutil
import subprocess

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import zili
from zili.compiler.math_c import PRELUDE
from zili.devices.cc import FLAGS

EXP2_ULP, LOG2_ULP = 1.25, 2.0  # bounds above the exhaustive maxima (0.952 and 1.95 ulp)


def ulp_error(got: np.ndarray, want: np.ndarray) -> np.ndarray:
    """|got - want| in units of the last place of float32 at ``want`` (subnormal spacing
    below the normal range); inf/nan must match exactly (error 0 or inf)."""
    with np.errstate(over="ignore"):  # beyond float32's range: inf, as the result must be
        want32 = want.astype(np.float32)
    spacing = np.spacing(np.abs(want32)).astype(np.float64)
    spacing = np.maximum(spacing, 2.0 ** -149)
    special = ~np.isfinite(want) | ~np.isfinite(want32)
    with np.errstate(invalid="ignore"):  # inf - inf where both are inf: decided below
        err = np.abs(got.astype(np.float64) - want) / spacing
    same = (got == want32) | (np.isnan(got) & np.isnan(want32))
    return np.where(special, np.where(same, 0.0, np.inf), err)


def bit_patterns(step: int) -> np.ndarray:
    """Every ``step``-th float32 bit pattern (both signs), as float32."""
    return np.arange(0, 1 << 32, step, dtype=np.uint64).astype(np.uint32).view(np.float32)


SPECIAL = np.array([0.0, -0.0, 1.0, -1.0, 2.0, 0.5, np.inf, -np.inf, np.nan, 128.0, 127.99,
                    -126.0, -149.0, -149.5, -150.0, -151.0, -200.0, 1e-45, 1e-40, 1.17549435e-38,
                    3.4028235e38, 1.0000001, 0.99999994], dtype=np.float32)


@pytest.mark.parametrize("name", ["exp2", "log2"])
def test_error_over_a_dense_sample_of_every_float32(cpu: str, name: str) -> None:
    x = np.concatenate([bit_patterns(4099), SPECIAL])  # 4099: prime, so mantissas vary
    reference = getattr(np, name)
    with np.errstate(all="ignore"):
        want = reference(x.astype(np.float64))
    got = getattr(zili.tensor(x, device=cpu), name)().numpy()
    bound = EXP2_ULP if name == "exp2" else LOG2_ULP
    err = ulp_error(got, want)
    worst = int(np.argmax(err))
    assert err[worst] <= bound, f"{name}({x[worst]!r}) = {got[worst]!r}, want {want[worst]!r}"


@settings(max_examples=30, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.floats(-160, 140, width=32), min_size=1, max_size=300))
def test_exp2_random_values_and_jit_equals_eager(cpu: str, values: list[float]) -> None:
    x = np.array(values, dtype=np.float32)
    t = zili.tensor(x, device=cpu)
    eager = t.exp2().numpy()
    assert ulp_error(eager, np.exp2(x.astype(np.float64))).max() <= EXP2_ULP
    jitted = zili.jit(lambda v: v.exp2())(t).numpy()
    np.testing.assert_array_equal(jitted, eager)  # same source in eager and fused kernels


def test_exp_log_softmax_keep_their_accuracy(cpu: str) -> None:
    rng = np.random.default_rng(0)
    x = rng.standard_normal((37, 129)).astype(np.float32) * 4
    t = zili.tensor(x, device=cpu)
    x64 = x.astype(np.float64)
    # exp(x) is exp2(x log2 e): the product's rounding grows with |x| (2^-24 |x| log2 e)
    bound = (np.abs(x64) * np.log2(np.e) + EXP2_ULP) * 2.0 ** -24
    assert (np.abs(t.exp().numpy() / np.exp(x64) - 1) <= bound).all()
    np.testing.assert_allclose(t.abs().log().numpy(), np.log(np.abs(x64)), rtol=6e-7,
                               atol=1e-7)
    soft = np.exp(x64 - x64.max(-1, keepdims=True))
    soft /= soft.sum(-1, keepdims=True)
    np.testing.assert_allclose(t.softmax(-1).numpy(), soft, rtol=2e-6, atol=1e-9)


@pytest.mark.skipif(shutil.which("gcc") is None, reason="the vectorizer report is GCC's")
def test_a_loop_over_exp2_and_log2_vectorizes(tmp_path) -> None:
    """The reason the functions exist: GCC must turn the loop into vector code."""
    source = tmp_path / "loop.c"
    source.write_text("#include <math.h>\n#include <string.h>\n" + PRELUDE +
                      "void f(const float* restrict a, float* restrict b, long n) {\n"
                      "  for (long i = 0; i < n; i++) b[i] = zili_exp2f(a[i]);\n}\n"
                      "void g(const float* restrict a, float* restrict b, long n) {\n"
                      "  for (long i = 0; i < n; i++) b[i] = zili_log2f(a[i]);\n}\n")
    flags = [f for f in FLAGS if f not in ("-fopenmp", "-shared")]
    done = subprocess.run(["gcc", *flags, "-c", "-fopt-info-vec-optimized", "-o",
                           str(tmp_path / "loop.o"), str(source)],
                          capture_output=True, text=True, check=True)
    assert done.stderr.count("loop vectorized") >= 2, done.stderr
