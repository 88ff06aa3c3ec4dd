"""erf, erfc, erfinv, lgamma, digamma and polygamma against PyTorch (values over wide ranges
in float32 and float64, the special points, gradients), finite differences in float64, and
``zili.special`` against ``torch.special``, on every device."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

import zili
from tests.helpers import compare, gradcheck, zt

SETTINGS = settings(max_examples=2, deadline=None, phases=[Phase.generate],
                    suppress_health_check=[HealthCheck.function_scoped_fixture])

SPECIAL_POINTS = [0.0, -0.0, 1.0, 2.0, -1.0, -2.0, -2.5, 0.5, np.inf, -np.inf, np.nan, 1e-30,
                  -1e-30, 1e30, 1.5, 100.5, -100.5, 0.9999999, -0.9999999]
FUNCTIONS = {
    "erf": (lambda t: t.erf(), torch.erf),
    "erfc": (lambda t: t.erfc(), torch.erfc),
    "erfinv": (lambda t: t.erfinv(), torch.erfinv),
    "lgamma": (lambda t: t.lgamma(), torch.lgamma),
    "digamma": (lambda t: t.digamma(), torch.digamma),
    "polygamma1": (lambda t: t.polygamma(1), lambda t: torch.polygamma(1, t)),
    "polygamma2": (lambda t: zili.polygamma(2, t), lambda t: torch.polygamma(2, t)),
}
# error allowed, relative to max(|value|, 1), against PyTorch in float64 at the same inputs.
# PyTorch's own float64 digamma/trigamma are good to ~6e-10 near the poles (mpmath agrees
# with zili at -0.9999999), so those two get 1e-9.
TOLERANCE = {"float32": 1e-5, "float64": 1e-12}


def _inputs(name: str, rng: np.random.Generator, scale: float) -> np.ndarray:
    if name == "erfinv":
        body = np.concatenate([rng.uniform(-1, 1, 300), 1 - np.logspace(-7, -1, 20),
                               np.logspace(-30, -1, 10)])
    else:
        body = rng.uniform(-scale, scale, 300)
        if name.startswith("polygamma"):  # PyTorch's Hurwitz zeta is wrong below 0 for n >= 2
            body = np.abs(body) if name == "polygamma2" else body
            body = body[np.abs(body - np.round(body)) > 1e-2]  # PyTorch is wrong near poles
    return np.concatenate([body, SPECIAL_POINTS if not name.startswith("polygamma") else
                           [0.5, 1.0, 2.0, 1e-3, np.inf, 100.5]])


@SETTINGS
@given(seed=st.integers(0, 10**6), scale=st.sampled_from([3.0, 30.0, 300.0]))
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_special_values_match_pytorch_over_wide_ranges(device, dtype, seed, scale):
    rng = np.random.default_rng(seed)
    for name, (zfn, tfn) in FUNCTIONS.items():
        x = _inputs(name, rng, scale).astype(dtype)
        got = zfn(zt(x, device)).numpy().astype(np.float64)
        want = tfn(torch.from_numpy(x.astype(np.float64))).numpy()
        want = want.astype(dtype).astype(np.float64)  # overflow and underflow as in dtype
        same = (got == want) | (np.isnan(got) & np.isnan(want))
        with np.errstate(invalid="ignore"):
            err = np.where(same, 0.0, np.abs(got - want) / np.maximum(np.abs(want), 1.0))
        loose = name in ("digamma", "polygamma1") and dtype == "float64"
        tol = 1e-9 if loose else TOLERANCE[dtype]
        bad = ~(err <= tol)
        assert not bad.any(), (name, dtype, x[bad][:5], got[bad][:5], want[bad][:5])


def test_special_gradients_match_pytorch_on_views_empty_and_0d(device):
    rng = np.random.default_rng(0)
    x = rng.uniform(0.2, 4.0, (5, 3))
    u = rng.uniform(-0.9, 0.9, (3, 5))
    for name, (zfn, tfn) in FUNCTIONS.items():
        data = u if name == "erfinv" else x
        compare(lambda a, f=zfn: f(a.T), lambda a, f=tfn: f(a.T), [data], device)  # strided
    zfn, tfn = FUNCTIONS["lgamma"]
    compare(zfn, tfn, [x[1, 2]], device)  # 0-d
    compare(zfn, tfn, [x[:0]], device)  # empty
    for name in ("erf", "erfinv", "digamma"):
        zfn, tfn = FUNCTIONS[name]
        compare(zfn, tfn, [u.astype(np.float32) * 0.9 + 1.0], device, dtype="float32")


def test_special_gradients_by_finite_differences(device):
    # one sum checks every closed-form derivative at once (an error in one shows)
    def every(t):
        return (t.erf() + t.erfc() * 0.5 + (t * 0.28).erfinv() + t.lgamma() + t.digamma()
                + t.polygamma(1) + (t - 4.2).lgamma() + (t - 4.2).digamma())
    gradcheck(every, [np.array([0.3, 3.3])], device)


def test_special_integer_and_half_inputs_follow_pytorch_dtypes(device):
    x = np.array([1, 2, 5], np.int64)
    for name, (zfn, tfn) in FUNCTIONS.items():
        if name == "erfinv":
            continue
        got, want = zfn(zt(x, device)), tfn(torch.from_numpy(x))
        assert got.dtype.name == str(want.dtype).removeprefix("torch."), name
        np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-5, err_msg=name)
    half = zili.tensor([0.5, 1.5], dtype=zili.float16, device=device)
    assert half.lgamma().dtype is zili.float16
    np.testing.assert_allclose(half.lgamma().numpy().astype(np.float64),
                               torch.tensor([0.5, 1.5], dtype=torch.float16).lgamma().numpy(),
                               rtol=1e-3)


def test_polygamma_below_zero_matches_scipy_where_pytorch_is_wrong(device):
    scipy_special = pytest.importorskip("scipy.special")
    x = np.array([-0.49, -3.3, -7.98, -12.25, 0.7])
    for n in (2, 3):
        got = zt(x, device).polygamma(n).numpy()
        np.testing.assert_allclose(got, scipy_special.polygamma(n, x), rtol=1e-11)
    with pytest.raises(zili.errors.ArgumentError, match="polygamma"):
        zt(x, device).polygamma(-1)


def test_zili_special_namespace_matches_torch_special(device):
    rng = np.random.default_rng(5)
    x, p = rng.uniform(0.1, 5, (4, 3)), rng.uniform(0.01, 0.99, (4, 3))
    for name in ("erf", "erfc", "gammaln", "digamma", "psi", "ndtr", "expit", "exp2",
                 "expm1", "log1p"):
        compare(getattr(zili.special, name), getattr(torch.special, name), [x], device)
    for name in ("erfinv", "ndtri"):
        compare(getattr(zili.special, name), getattr(torch.special, name), [p], device)
    compare(lambda a: zili.special.polygamma(1, a), lambda a: torch.special.polygamma(1, a),
            [x], device)
    for name in ("softmax", "log_softmax"):
        compare(lambda a, n=name: getattr(zili.special, n)(a, 1),
                lambda a, n=name: getattr(torch.special, n)(a, 1), [x], device)
    compare(lambda a: zili.special.logsumexp(a, 0), lambda a: torch.special.logsumexp(a, 0),
            [x], device)
