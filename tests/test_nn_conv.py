"""Convolution, transposed convolution, unfold/fold against PyTorch: random geometries
(stride, padding incl. 'same'/'valid', dilation, groups, bias) in 1-D, 2-D and 3-D, forward
and backward, on every device; float64 finite differences for the window primitive."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as TF
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import zili
import zili.nn.functional as F
from tests.helpers import compare, gradcheck, zt
from zili.errors import ShapeError

SETTINGS = settings(max_examples=12, deadline=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture])


@st.composite
def conv_case(draw: st.DrawFn) -> dict:
    d = draw(st.integers(1, 3))
    groups = draw(st.sampled_from([1, 2, 3]))
    cin, cout = groups * draw(st.integers(1, 2)), groups * draw(st.integers(1, 2))
    kernel = tuple(draw(st.integers(1, 3)) for _ in range(d))
    dilation = draw(st.integers(1, 2))
    padding = draw(st.sampled_from([0, 1, 2, "same", "valid"]))
    stride = 1 if padding == "same" else draw(st.integers(1, 3))
    low = [dilation * (k - 1) + 1 for k in kernel]
    sizes = tuple(draw(st.integers(lo, lo + 4)) for lo in low)
    return dict(d=d, groups=groups, cin=cin, cout=cout, kernel=kernel, dilation=dilation,
                padding=padding, stride=stride, sizes=sizes,
                batch=draw(st.integers(1, 2)), bias=draw(st.booleans()),
                transpose_input=draw(st.booleans()), seed=draw(st.integers(0, 999)))


@SETTINGS
@given(case=conv_case())
def test_conv_matches_pytorch(device, case):
    rng = np.random.default_rng(case["seed"])
    d = case["d"]
    x = rng.standard_normal((case["batch"], case["cin"]) + case["sizes"])
    w = rng.standard_normal((case["cout"], case["cin"] // case["groups"]) + case["kernel"])
    b = rng.standard_normal(case["cout"])
    zfn = getattr(F, f"conv{d}d")
    tfn = getattr(TF, f"conv{d}d")
    kw = dict(stride=case["stride"], padding=case["padding"], dilation=case["dilation"],
              groups=case["groups"])
    if case["transpose_input"]:
        x_arg = np.swapaxes(x, -1, 1).copy()  # stored transposed, viewed back
        zf = lambda xx, ww, bb: zfn(xx.transpose(-1, 1), ww, bb, **kw)  # noqa: E731
        tf = lambda xx, ww, bb: tfn(xx.transpose(-1, 1), ww, bb, **kw)  # noqa: E731
    else:
        x_arg = x
        zf = lambda xx, ww, bb: zfn(xx, ww, bb, **kw)  # noqa: E731
        tf = lambda xx, ww, bb: tfn(xx, ww, bb, **kw)  # noqa: E731
    if case["bias"]:
        compare(zf, tf, [x_arg, w, b], device)
    else:
        compare(lambda xx, ww: zf(xx, ww, None), lambda xx, ww: tf(xx, ww, None),
                [x_arg, w], device)


@st.composite
def conv_transpose_case(draw: st.DrawFn) -> dict:
    d = draw(st.integers(1, 3))
    groups = draw(st.sampled_from([1, 2]))
    stride = draw(st.integers(1, 3))
    dilation = draw(st.integers(1, 2))
    kernel = tuple(draw(st.integers(1, 3)) for _ in range(d))
    padding = draw(st.integers(0, 1))
    extra = draw(st.integers(0, max(stride, dilation) - 1))
    return dict(d=d, groups=groups, cin=groups * draw(st.integers(1, 2)),
                og=draw(st.integers(1, 2)), kernel=kernel, stride=stride, dilation=dilation,
                padding=padding, extra=extra,
                sizes=tuple(draw(st.integers(1, 4)) for _ in range(d)),
                batch=draw(st.integers(1, 2)), seed=draw(st.integers(0, 999)))


@SETTINGS
@given(case=conv_transpose_case())
def test_conv_transpose_matches_pytorch(device, case):
    rng = np.random.default_rng(case["seed"])
    d = case["d"]
    x = rng.standard_normal((case["batch"], case["cin"]) + case["sizes"])
    w = rng.standard_normal((case["cin"], case["og"]) + case["kernel"])
    b = rng.standard_normal(case["og"] * case["groups"])
    kw = dict(stride=case["stride"], padding=case["padding"], output_padding=case["extra"],
              groups=case["groups"], dilation=case["dilation"])
    full = [(n - 1) * case["stride"] + case["dilation"] * (k - 1) + 1 + case["extra"]
            for n, k in zip(case["sizes"], case["kernel"])]
    if any(2 * case["padding"] >= f for f in full):
        with pytest.raises(RuntimeError):
            getattr(TF, f"conv_transpose{d}d")(torch.tensor(x), torch.tensor(w), **kw)
        return
    compare(lambda xx, ww, bb: getattr(F, f"conv_transpose{d}d")(xx, ww, bb, **kw),
            lambda xx, ww, bb: getattr(TF, f"conv_transpose{d}d")(xx, ww, bb, **kw),
            [x, w, b], device)


def test_conv2d_float32_and_unbatched(device):
    rng = np.random.default_rng(3)
    x = rng.standard_normal((3, 9, 7)).astype(np.float32)
    w = rng.standard_normal((4, 3, 3, 2)).astype(np.float32)
    compare(lambda a, b: F.conv2d(a, b, padding=(1, 2), stride=(2, 1)),
            lambda a, b: TF.conv2d(a, b, padding=(1, 2), stride=(2, 1)), [x, w], device,
            dtype="float32")


def test_conv1d_finite_differences(device):
    rng = np.random.default_rng(4)
    x, w = rng.standard_normal((1, 2, 6)), rng.standard_normal((2, 1, 3))
    gradcheck(lambda a, b: F.conv1d(a, b, stride=2, padding=1, dilation=1, groups=2),
              [x, w], device)


@pytest.mark.parametrize("kernel,dilation,padding,stride", [(2, 1, 0, 1), ((2, 3), (1, 2),
                                                                          (1, 0), (2, 1))])
def test_unfold_and_fold_match_pytorch(device, kernel, dilation, padding, stride):
    rng = np.random.default_rng(5)
    x = rng.standard_normal((2, 3, 6, 7))
    kw = dict(kernel_size=kernel, dilation=dilation, padding=padding, stride=stride)
    compare(lambda a: F.unfold(a, **kw), lambda a: TF.unfold(a, **kw), [x], device)
    blocks = TF.unfold(torch.tensor(x), **kw)
    compare(lambda a: F.fold(a, (6, 7), **kw), lambda a: TF.fold(a, (6, 7), **kw),
            [blocks.numpy()], device)


def test_empty_batch_convolves_to_empty(device):
    x = zt(np.zeros((0, 2, 5, 5)), device)
    w = zt(np.ones((3, 2, 3, 3)), device)
    assert F.conv2d(x, w, padding=1).shape == TF.conv2d(torch.zeros(0, 2, 5, 5),
                                                        torch.ones(3, 2, 3, 3), padding=1).shape


def test_conv_errors_name_the_shapes(device):
    x = zt(np.ones((1, 4, 5, 5)), device)
    with pytest.raises(RuntimeError, match="channels"):
        F.conv2d(x, zt(np.ones((2, 3, 3, 3)), device))
    with pytest.raises(ShapeError, match="groups"):
        F.conv2d(x, zt(np.ones((3, 2, 3, 3)), device), groups=2)
    with pytest.raises(ValueError, match="same"):
        F.conv2d(x, zt(np.ones((2, 4, 3, 3)), device), stride=2, padding="same")
    with pytest.raises(ShapeError):
        F.conv2d(x, zt(np.ones((2, 4, 7, 7)), device))


def test_conv_modules_match_pytorch(device):
    torch.manual_seed(0)
    for tm, zm_cls, shape in [(torch.nn.Conv2d(4, 6, 3, padding=1, groups=2,
                                               padding_mode="reflect"), zili.nn.Conv2d,
                               (2, 4, 5, 6)),
                              (torch.nn.Conv1d(3, 2, 2, stride=2), zili.nn.Conv1d, (2, 3, 7)),
                              (torch.nn.Conv3d(2, 2, 2, padding="same"), zili.nn.Conv3d,
                               (1, 2, 3, 4, 3)),
                              (torch.nn.ConvTranspose2d(3, 2, 3, stride=2, padding=1,
                                                        output_padding=1), zili.nn.ConvTranspose2d,
                               (2, 3, 4, 4))]:
        tm = tm.double()
        kwargs = {k: getattr(tm, k) for k in ("stride", "padding", "dilation", "groups")}
        if isinstance(tm, torch.nn.ConvTranspose2d):
            kwargs["output_padding"] = tm.output_padding
        else:
            kwargs["padding_mode"] = tm.padding_mode
        zm = zm_cls(tm.in_channels, tm.out_channels, tm.kernel_size, dtype=zili.float64,
                    device=device, **kwargs)
        zm.weight.data = zt(tm.weight.detach().numpy(), device)
        zm.bias.data = zt(tm.bias.detach().numpy(), device)
        x = np.random.default_rng(6).standard_normal(shape)
        compare(lambda a, zm=zm: zm(a), lambda a, tm=tm: tm(a), [x], device)
        assert zm.weight.shape == tuple(tm.weight.shape)
