"""Pooling, unpooling, padding modes, interpolation and batch/group norm against PyTorch,
forward and backward, on every device (random geometries with hypothesis)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as TF
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import zili
import zili.nn.functional as F
from tests.helpers import assert_close, compare, zt

SETTINGS = settings(max_examples=10, deadline=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture])


@st.composite
def pool_case(draw: st.DrawFn) -> dict:
    d = draw(st.integers(1, 3))
    kernel = draw(st.integers(1, 3))
    padding = draw(st.integers(0, kernel // 2))
    dilation = draw(st.integers(1, 2))
    low = dilation * (kernel - 1) + 1
    return dict(d=d, kernel=kernel, padding=padding, dilation=dilation,
                stride=draw(st.sampled_from([None, 1, 2, 3])), ceil_mode=draw(st.booleans()),
                include=draw(st.booleans()),
                sizes=tuple(draw(st.integers(low, low + 4))
                            for _ in range(d)),
                seed=draw(st.integers(0, 999)))


@settings(SETTINGS, max_examples=6)
@given(case=pool_case())
def test_max_and_avg_pool_match_pytorch(device, case):
    d = case["d"]
    x = np.random.default_rng(case["seed"]).standard_normal((2, 3) + case["sizes"])
    kw = dict(kernel_size=case["kernel"], stride=case["stride"], padding=case["padding"],
              ceil_mode=case["ceil_mode"])
    mp = dict(kw, dilation=case["dilation"], return_indices=True)
    tv, ti = getattr(TF, f"max_pool{d}d")(torch.tensor(x), **mp)
    zv, zi = getattr(F, f"max_pool{d}d")(zt(x, device), **mp)
    np.testing.assert_array_equal(zi.numpy(), ti.numpy())
    assert zi.dtype is zili.int64
    compare(lambda a: getattr(F, f"max_pool{d}d")(a, **dict(mp, return_indices=False)),
            lambda a: getattr(TF, f"max_pool{d}d")(a, **dict(mp, return_indices=False)),
            [x], device)
    ap = dict(kw, count_include_pad=case["include"])
    compare(lambda a: getattr(F, f"avg_pool{d}d")(a, **ap),
            lambda a: getattr(TF, f"avg_pool{d}d")(a, **ap), [x], device)


def test_max_pool_gradient_goes_to_the_first_maximum_on_ties(device):
    x = np.zeros((1, 1, 4, 4))
    x[0, 0, 1, 1] = x[0, 0, 2, 3] = 1.0  # ties of 1s and of 0s in the windows
    compare(lambda a: F.max_pool2d(a.relu(), 2, 1), lambda a: TF.max_pool2d(a.relu(), 2, 1),
            [x], device)
    compare(lambda a: F.max_pool2d(a, 3, 1, 1), lambda a: TF.max_pool2d(a, 3, 1, 1), [x],
            device)


@pytest.mark.parametrize("out", [(1, 1), (3, 4), (5, 2), (7, 9)])
def test_adaptive_pools_match_pytorch(device, out):
    x = np.random.default_rng(1).standard_normal((2, 3, 7, 9))
    compare(lambda a: F.adaptive_avg_pool2d(a, out), lambda a: TF.adaptive_avg_pool2d(a, out),
            [x], device)
    compare(lambda a: F.adaptive_max_pool2d(a, out), lambda a: TF.adaptive_max_pool2d(a, out),
            [x], device)
    _, ti = TF.adaptive_max_pool2d(torch.tensor(x), out, return_indices=True)
    _, zi = F.adaptive_max_pool2d(zt(x, device), out, return_indices=True)
    np.testing.assert_array_equal(zi.numpy(), ti.numpy())
    compare(lambda a: F.adaptive_avg_pool1d(a, out[0]), lambda a: TF.adaptive_avg_pool1d(
        a, out[0]), [x[:, :, 0]], device)
    compare(lambda a: F.adaptive_avg_pool3d(a, (1,) + out), lambda a: TF.adaptive_avg_pool3d(
        a, (1,) + out), [x[:, None]], device)


def test_max_unpool2d_inverts_max_pool2d(device):
    x = np.random.default_rng(2).standard_normal((2, 3, 6, 7))
    tv, ti = TF.max_pool2d(torch.tensor(x), 2, return_indices=True)
    compare(lambda v: F.max_unpool2d(v, zt(ti.numpy(), device), 2, output_size=(6, 7)),
            lambda v: TF.max_unpool2d(v, ti, 2, output_size=(6, 7)), [tv.numpy()], device)
    with pytest.raises(IndexError):
        F.max_unpool2d(zt(tv.numpy(), device), zt(ti.numpy() + 100, device), 2)


@pytest.mark.parametrize("mode", ["constant", "reflect", "replicate", "circular"])
def test_pad_modes_match_pytorch(device, mode):
    x = np.random.default_rng(3).standard_normal((2, 3, 5, 4))
    for pads in [(1, 2, 3, 0), (0, 3, 2, 1)]:
        compare(lambda a, p=pads: F.pad(a, p, mode), lambda a, p=pads: TF.pad(a, p, mode),
                [x], device)
    compare(lambda a: F.pad(a, (2, 1), mode), lambda a: TF.pad(a, (2, 1), mode),
            [x[:, :, 0]], device)
    x3 = x[:, :, :, :, None].repeat(3, -1)
    compare(lambda a: F.pad(a, (1, 1, 2, 0, 1, 2), mode),
            lambda a: TF.pad(a, (1, 1, 2, 0, 1, 2), mode), [x3], device)
    if mode == "constant":
        compare(lambda a: F.pad(a, (1, -1, 2, 2), value=-2.5),
                lambda a: TF.pad(a, (1, -1, 2, 2), value=-2.5), [x], device)
    else:
        with pytest.raises(ValueError):
            F.pad(zt(x, device), (6, 0), mode)


@pytest.mark.parametrize("mode,ndim", [("nearest", 2), ("nearest-exact", 1), ("linear", 1),
                                       ("bilinear", 2), ("bicubic", 2), ("trilinear", 3),
                                       ("area", 2), ("nearest", 3)])
def test_interpolate_matches_pytorch(device, mode, ndim):
    x = np.random.default_rng(4).standard_normal((2, 2) + (5, 4, 3)[:ndim])
    corners = [None] if mode.startswith("nearest") or mode == "area" else [False, True]
    for align in corners:
        for kw in (dict(size=(7, 3, 4)[:ndim]), dict(scale_factor=1.7),
                   dict(scale_factor=0.6)):
            compare(lambda a, al=align, k=kw: F.interpolate(a, mode=mode, align_corners=al, **k),
                    lambda a, al=align, k=kw: TF.interpolate(a, mode=mode, align_corners=al,
                                                             **k),
                    [x], device)


def test_batch_norm_training_eval_and_running_stats(device):
    torch.manual_seed(0)
    tm = torch.nn.BatchNorm2d(3).double()
    zm = zili.nn.BatchNorm2d(3, dtype=zili.float64, device=device)
    rng = np.random.default_rng(5)
    for _ in range(2):
        x = rng.standard_normal((4, 3, 5, 2)) * 3 + 1
        compare(lambda a: zm(a), lambda a: tm(a), [x], device)
    assert_close(zm.running_mean, tm.running_mean, what="running_mean")
    assert_close(zm.running_var, tm.running_var, what="running_var")
    assert zm.num_batches_tracked.item() == tm.num_batches_tracked.item() == 2
    zm.eval()
    tm.eval()
    x = rng.standard_normal((2, 3, 5, 2))
    compare(lambda a: zm(a), lambda a: tm(a), [x], device)
    t1, z1 = torch.nn.BatchNorm1d(4, momentum=None).double(), zili.nn.BatchNorm1d(
        4, momentum=None, dtype=zili.float64, device=device)
    for _ in range(3):
        x = rng.standard_normal((6, 4))
        compare(lambda a: z1(a), lambda a: t1(a), [x], device)
    assert_close(z1.running_var, t1.running_var, what="cumulative running_var")
    with pytest.raises(RuntimeError):
        z1(zt(np.ones((1, 4)), device))


def test_group_norm_matches_pytorch(device):
    x = np.random.default_rng(6).standard_normal((2, 6, 3, 4))
    w, b = np.random.default_rng(7).standard_normal((2, 6))
    compare(lambda a, ww, bb: F.group_norm(a, 3, ww, bb),
            lambda a, ww, bb: TF.group_norm(a, 3, ww, bb), [x, w, b], device)
    compare(lambda a: zili.nn.GroupNorm(2, 6, dtype=zili.float64, device=device)(a),
            lambda a: torch.nn.GroupNorm(2, 6).double()(a), [x], device)


def test_flatten_and_upsample_modules(device):
    x = np.random.default_rng(8).standard_normal((2, 3, 4, 5))
    compare(lambda a: zili.nn.Flatten()(a), lambda a: torch.nn.Flatten()(a), [x], device)
    compare(lambda a: zili.nn.Upsample(scale_factor=2, mode="bilinear")(a),
            lambda a: torch.nn.Upsample(scale_factor=2, mode="bilinear")(a), [x], device)
    compare(lambda a: zili.nn.AdaptiveAvgPool2d(1)(zili.nn.MaxPool2d(2)(a)),
            lambda a: torch.nn.AdaptiveAvgPool2d(1)(torch.nn.MaxPool2d(2)(a)), [x], device)
    compare(lambda a: zili.nn.AvgPool2d(2, 1)(a), lambda a: torch.nn.AvgPool2d(2, 1)(a), [x],
            device)
