"""The device registry, default-device selection, host copies, and the counter-based random
stream (reproducible for a seed, and statistically uniform/normal by tests that can fail)."""

from __future__ import annotations

import math
import os
import subprocess
import sys

import numpy as np
import pytest

import zili
from zili.devices import device as registry
from zili.devices.numpy import counter_uniform
from zili.ops import Op
from zili.ops.view import View

MASK64 = (1 << 64) - 1


def test_registry_lists_and_reuses_devices(device: str) -> None:
    assert device in zili.available_devices()
    assert zili.get_device(device) is zili.get_device(device)
    assert zili.get_device(f"{device}:0") is zili.get_device(device)
    assert zili.get_device(zili.get_device(device)) is zili.get_device(device)
    assert zili.get_device(device).name == device


def test_unknown_device_error_lists_available() -> None:
    with pytest.raises(ValueError, match=r"unknown device 'tpu9'.*numpy.*ZILI_DEVICE"):
        zili.get_device("tpu9")
    with pytest.raises(ValueError, match="unknown device"):
        zili.set_default_device("tpu9")


def test_register_device_by_priority(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(registry, "_FACTORIES", dict(registry._FACTORIES))
    monkeypatch.setattr(registry, "_PRIORITY", dict(registry._PRIORITY))
    monkeypatch.setattr(registry, "_INSTANCES", dict(registry._INSTANCES))

    class Fake(registry.Device):
        name = "fake"

    registry.register_device("fake", Fake, priority=1000)
    registry.register_device("slow", Fake, priority=-1000)
    assert registry.available_devices()[0] == "fake"
    assert registry.available_devices()[-1] == "slow"
    assert isinstance(zili.get_device("fake"), Fake)


@pytest.mark.parametrize("name", ["numpy", "nonesuch"])
def test_zili_device_environment_variable(name: str) -> None:
    code = ("import zili; t = zili.ones(2); print(t.device.name)")
    env = dict(os.environ, ZILI_DEVICE=name)
    run = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                         timeout=120)
    if name == "numpy":
        assert run.returncode == 0 and run.stdout.strip() == "numpy", run.stderr
    else:
        assert run.returncode != 0 and "unknown device 'nonesuch'" in run.stderr


def test_set_default_device(device: str) -> None:
    previous = registry.default_device_name()
    try:
        zili.set_default_device(device)
        assert zili.ones(1).device.name == device
    finally:
        zili.set_default_device(previous)


@pytest.mark.parametrize("dt", zili.dtype.ALL_DTYPES, ids=lambda d: d.name)
def test_host_round_trip_and_strided_read(device: str, dt: zili.DType) -> None:
    dev = zili.get_device(device)
    a = (np.arange(24).reshape(2, 3, 4) % 5).astype(dt.numpy)
    buf = dev.from_numpy(a)
    np.testing.assert_array_equal(dev.to_numpy(buf, View(a.shape), dt), a)
    view = View(a.shape).permute((2, 0, 1)).flip((1,)).shrink(((1, 3), (0, 2), (0, 3)))
    expected = a.transpose(2, 0, 1)[:, ::-1][1:3, 0:2, 0:3]
    np.testing.assert_array_equal(dev.to_numpy(buf, view, dt), expected)


def test_execute_reads_inputs_through_views(device: str) -> None:
    dev = zili.get_device(device)
    a = np.arange(6, dtype=np.float32).reshape(2, 3)
    buf = dev.from_numpy(a)
    view = View((2, 3)).permute((1, 0)).pad(((1, 0), (0, 1)))  # shape (4, 3), zeros in the pad
    out = dev.execute(Op.ADD, view.shape, zili.float32, [(buf, view, zili.float32)] * 2)
    expected = np.pad(a.T, ((1, 0), (0, 1))) * 2
    np.testing.assert_array_equal(dev.to_numpy(out, View(view.shape), zili.float32), expected)


# --- the random stream -----------------------------------------------------------------------

def _splitmix_reference(seed: int, counter: int, count: int, bits: int) -> np.ndarray:
    """SplitMix64's finaliser in plain Python integers, written from its definition."""
    out = []
    for i in range(count):
        z = (counter + i + seed * 0x9E3779B97F4A7C15) & MASK64
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK64
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK64
        z ^= z >> 31
        out.append((z >> (64 - bits)) / float(1 << bits))
    return np.array(out)


@pytest.mark.parametrize("seed,counter", [(0, 0), (1, 5), (2**63 + 12345, 2**40)])
def test_counter_uniform_is_splitmix64(seed: int, counter: int) -> None:
    np.testing.assert_array_equal(counter_uniform(seed, counter, 64, zili.float64),
                                  _splitmix_reference(seed, counter, 64, 53))
    np.testing.assert_array_equal(counter_uniform(seed, counter, 64, zili.float32),
                                  _splitmix_reference(seed, counter, 64, 24).astype(np.float32))


def test_same_seed_same_numbers_on_every_device() -> None:
    streams = []
    for name in zili.available_devices():
        try:
            zili.get_device(name)
        except RuntimeError:  # registered but absent here (cuda without a GPU)
            continue
        zili.manual_seed(42)
        streams.append((zili.rand(3, 5, device=name).numpy(), zili.randn(7, device=name).numpy()))
    for u, n in streams[1:]:
        np.testing.assert_array_equal(u, streams[0][0])  # the uniform stream: bit for bit
        # normals pass through each device's log/cos/sqrt, which may differ in the last ulp
        np.testing.assert_allclose(n, streams[0][1], rtol=1e-6, atol=1e-6)


def test_seed_and_state_reproduce_the_stream(device: str) -> None:
    zili.manual_seed(7)
    a = zili.rand(100, device=device).numpy()
    state = zili.get_rng_state()
    b = zili.rand(50, device=device).numpy()
    zili.manual_seed(7)
    np.testing.assert_array_equal(zili.rand(100, device=device).numpy(), a)
    zili.set_rng_state(state)
    np.testing.assert_array_equal(zili.rand(50, device=device).numpy(), b)
    zili.manual_seed(8)
    assert not np.array_equal(zili.rand(100, device=device).numpy(), a)
    g1, g2 = zili.Generator().manual_seed(3), zili.Generator().manual_seed(3)
    np.testing.assert_array_equal(zili.randn(10, generator=g1, device=device).numpy(),
                                  zili.randn(10, generator=g2, device=device).numpy())


def _ks_statistic(samples: np.ndarray, cdf: object) -> float:
    x = np.sort(samples)
    n = len(x)
    f = np.array([cdf(v) for v in x])
    return float(max(np.max(np.arange(1, n + 1) / n - f), np.max(f - np.arange(n) / n)))


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_rand_is_uniform(device: str, dtype: str) -> None:
    zili.manual_seed(2024)
    n = 20000
    u = zili.rand(n, dtype=getattr(zili, dtype), device=device).numpy().astype(np.float64)
    assert u.min() >= 0.0 and u.max() < 1.0
    # mean 1/2, variance 1/12; bounds are ~5 standard errors
    assert abs(u.mean() - 0.5) < 5 * math.sqrt(1 / 12 / n)
    assert abs(u.var() - 1 / 12) < 5 * math.sqrt(1 / 180 / n)
    assert _ks_statistic(u, lambda v: v) < 1.95 / math.sqrt(n)  # KS at the 0.1% level
    counts = np.histogram(u, bins=20, range=(0, 1))[0]
    chi2 = float(((counts - n / 20) ** 2 / (n / 20)).sum())
    assert chi2 < 43.8  # 99.9th percentile of chi-square with 19 degrees of freedom
    lag = np.corrcoef(u[:-1], u[1:])[0, 1]
    assert abs(lag) < 5 / math.sqrt(n)  # neighbours in the stream are uncorrelated


def test_randn_is_standard_normal(device: str) -> None:
    zili.manual_seed(99)
    n = 20000
    x = zili.randn(n, device=device).numpy().astype(np.float64)
    assert abs(x.mean()) < 5 / math.sqrt(n)
    assert abs(x.std() - 1) < 5 / math.sqrt(2 * n)
    normal_cdf = np.vectorize(lambda v: 0.5 * (1 + math.erf(v / math.sqrt(2))))
    xs = np.sort(x)
    f = normal_cdf(xs)
    ks = max(np.max(np.arange(1, n + 1) / n - f), np.max(f - np.arange(n) / n))
    assert ks < 1.95 / math.sqrt(n)  # KS at the 0.1% level
    assert np.isfinite(x).all()


def test_randint_and_randperm(device: str) -> None:
    zili.manual_seed(5)
    n = 12000
    r = zili.randint(-3, 3, (n,), device=device).numpy()
    assert r.dtype == np.int64 and r.min() == -3 and r.max() == 2
    counts = np.bincount(r + 3, minlength=6)
    chi2 = float(((counts - n / 6) ** 2 / (n / 6)).sum())
    assert chi2 < 20.5  # 99.9th percentile, 5 degrees of freedom
    p = zili.randperm(50, device=device).numpy()
    assert sorted(p.tolist()) == list(range(50)) and p.tolist() != list(range(50))
    with pytest.raises(ValueError, match="randint"):
        zili.randint(3, 3, (2,), device=device)
