"""The activations, losses and distances of issue 10 against PyTorch: random values with
hypothesis (odd shapes, 0-d and empty tensors, values at the kinks), forward and backward,
on every device; finite differences in float64 for a few."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as TF
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import zili.nn.functional as F
from tests.helpers import compare, gradcheck, zt

SETTINGS = settings(max_examples=8, deadline=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture])
SHAPES = st.sampled_from([(), (0,), (5,), (3, 4), (2, 3, 5), (1, 7, 1)])

ACTIVATIONS = {
    "hardsigmoid": ({}, {}), "hardswish": ({}, {}), "hardtanh": ({}, {}),
    "hardtanh_range": ({"min_val": -0.5, "max_val": 2.0}, "hardtanh"),
    "elu": ({"alpha": 0.7}, {}), "selu": ({}, {}), "celu": ({"alpha": 1.3}, {}),
    "leaky_relu": ({"negative_slope": 0.2}, {}), "mish": ({}, {}), "softsign": ({}, {}),
    "logsigmoid": ({}, {}), "relu6": ({}, {}), "tanhshrink": ({}, {}),
    "softshrink": ({"lambd": 0.3}, {}), "hardshrink": ({"lambd": 0.3}, {}),
    "threshold": ({"threshold": 0.1, "value": -2.0}, {}), "softmin": ({"dim": -1}, {}),
    "rrelu": ({"training": False}, {}),
}


@SETTINGS
@given(shape=SHAPES, seed=st.integers(0, 999))
@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
def test_activation_matches_pytorch(device, name, shape, seed):
    kwargs, alias = ACTIVATIONS[name]
    fn = alias if isinstance(alias, str) else name
    if fn == "softmin" and shape == ():
        return
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(shape) * 4
    if x.size:  # exact kinks, where PyTorch picks a one-sided derivative
        kinks = np.array([0.0, -3.0, 3.0, 6.0, 0.3, -0.3, 0.1, -1.0, 1.0])
        flat = x.reshape(-1)
        flat[: min(flat.size, kinks.size)] = kinks[: flat.size]
    # PyTorch's celu and hardsigmoid gradients use float32 constants (1/alpha, 1/6): off by
    # ~3e-8 relative in float64
    tol = dict(rtol=1e-6, atol=1e-9) if fn in ("celu", "hardsigmoid") else {}
    compare(lambda a: getattr(F, fn)(a, **kwargs), lambda a: getattr(TF, fn)(a, **kwargs),
            [x], device, **tol)


def test_glu_and_prelu_match_pytorch(device):
    rng = np.random.default_rng(1)
    x = rng.standard_normal((3, 4, 5))
    compare(lambda a: F.glu(a, 1), lambda a: TF.glu(a, 1), [x], device)
    compare(F.prelu, TF.prelu, [x, np.array([0.25, -0.1, 0.5, 2.0])], device)
    compare(F.prelu, TF.prelu, [x, np.array([0.25])], device)
    gradcheck(lambda a: F.mish(a) + F.selu(a) + F.logsigmoid(a), [rng.standard_normal(5)],
              device)


@settings(SETTINGS, max_examples=3)
@given(shape=st.sampled_from([(4,), (3, 5), (2, 3, 4)]), seed=st.integers(0, 999),
       reduction=st.sampled_from(["mean", "sum", "none"]))
def test_losses_match_pytorch(device, shape, seed, reduction):
    rng = np.random.default_rng(seed)
    x, y = rng.standard_normal(shape), rng.standard_normal(shape)
    p = 1 / (1 + np.exp(-x))
    t = rng.uniform(0, 1, shape)
    w = rng.uniform(0.5, 2, shape[-1:])
    r = dict(reduction=reduction)
    compare(lambda a, b: F.smooth_l1_loss(a, b, beta=0.5, **r),
            lambda a, b: TF.smooth_l1_loss(a, b, beta=0.5, **r), [x, y], device)
    compare(lambda a, b: F.huber_loss(a, b, delta=0.7, **r),
            lambda a, b: TF.huber_loss(a, b, delta=0.7, **r), [x, y], device)
    compare(lambda a, b: F.binary_cross_entropy(a, b, **r),
            lambda a, b: TF.binary_cross_entropy(a, b, **r), [p, t], device)
    compare(lambda a, b, c: F.binary_cross_entropy_with_logits(a, b, weight=c, **r),
            lambda a, b, c: TF.binary_cross_entropy_with_logits(a, b, weight=c, **r),
            [x * 10, t, w], device, grad=[True, True, False])
    compare(lambda a, b, c: F.binary_cross_entropy_with_logits(a, b, pos_weight=c, **r),
            lambda a, b, c: TF.binary_cross_entropy_with_logits(a, b, pos_weight=c, **r),
            [x, t, w], device, grad=[True, True, False])
    logp = np.log(np.exp(x) / np.exp(x).sum(-1, keepdims=True))
    q = np.exp(y) / np.exp(y).sum(-1, keepdims=True)
    q.reshape(-1)[0] = 0.0  # 0 log 0 = 0
    for red in (reduction, "batchmean"):
        compare(lambda a, b, rd=red: F.kl_div(a, b, reduction=rd),
                lambda a, b, rd=red: TF.kl_div(a, b, reduction=rd), [logp, q], device,
                grad=[True, False])  # d/dtarget at target 0 is PyTorch's NaN (log 0)
    compare(lambda a, b: F.kl_div(a, b, reduction=reduction, log_target=True),
            lambda a, b: TF.kl_div(a, b, reduction=reduction, log_target=True),
            [logp, np.log(np.abs(q) + 0.1)], device)


def test_distances_and_normalize_match_pytorch(device):
    rng = np.random.default_rng(2)
    a, b = rng.standard_normal((4, 5)), rng.standard_normal((1, 5))
    compare(lambda x, y: F.cosine_similarity(x, y, dim=1),
            lambda x, y: TF.cosine_similarity(x, y, dim=1), [a, b], device)
    for p in (1.0, 2.0, 3.0):
        compare(lambda x, y, p=p: F.pairwise_distance(x, y, p=p),
                lambda x, y, p=p: TF.pairwise_distance(x, y, p=p), [a, b], device)
        compare(lambda x, p=p: F.normalize(x, p=p, dim=0),
                lambda x, p=p: TF.normalize(x, p=p, dim=0), [a], device)
    zero = np.zeros((2, 3))
    compare(lambda x: F.normalize(x), lambda x: TF.normalize(x), [zero], device)


@pytest.mark.parametrize("mode", ["sum", "mean", "max"])
def test_embedding_bag_matches_pytorch(device, mode):
    rng = np.random.default_rng(3)
    weight = rng.standard_normal((10, 4))
    flat = np.array([1, 2, 4, 5, 4, 3, 2, 9], np.int64)
    offsets = np.array([0, 4, 4, 6], np.int64)  # bag 1 is empty
    compare(lambda w: F.embedding_bag(zt(flat, device), w, zt(offsets, device), mode=mode),
            lambda w: TF.embedding_bag(torch.from_numpy(flat), w,
                                       torch.from_numpy(offsets), mode=mode), [weight], device)
    bags = np.array([[1, 2, 3], [4, 4, 9]], np.int64)
    compare(lambda w: F.embedding_bag(zt(bags, device), w, mode=mode, padding_idx=4),
            lambda w: TF.embedding_bag(torch.from_numpy(bags), w, mode=mode, padding_idx=4),
            [weight], device)
    if mode == "sum":
        psw = rng.standard_normal(8)
        compare(lambda w, s: F.embedding_bag(zt(flat, device), w, zt(offsets, device),
                                             mode="sum", per_sample_weights=s),
                lambda w, s: TF.embedding_bag(torch.from_numpy(flat), w,
                                              torch.from_numpy(offsets), mode="sum",
                                              per_sample_weights=s), [weight, psw], device)
