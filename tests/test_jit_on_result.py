"""``JitFunction.call(..., on_result=...)`` (issue 13: gradient buckets start during a jitted
backward): on a replay every returned tensor is reported once, with its final values,
as soon as its kernels are done, so a result needed early is reported before the kernels
of later results run."""

from __future__ import annotations

import numpy as np

import zili


def test_results_are_reported_final_and_in_the_order_they_are_finished(device: str) -> None:
    rng = np.random.default_rng(5)
    w = rng.standard_normal((16, 16)).astype(np.float32) / 4

    @zili.jit
    def chain(x: zili.Tensor, w: zili.Tensor) -> tuple:
        first = (x @ w).tanh()  # finished early
        h = first
        for _ in range(4):  # a chain of later kernels
            h = (h @ w).tanh()
        return h.sum(), [first, h]

    def expected(x: np.ndarray) -> list[np.ndarray]:
        first = np.tanh(x.astype(np.float64) @ w)
        h = first
        for _ in range(4):
            h = np.tanh(h @ w)
        return [h.sum(), first, h]

    wt = zili.tensor(w, device=device)
    reports: list[tuple[int, np.ndarray]] = []
    for call in range(4):
        x = rng.standard_normal((8, 16)).astype(np.float32)
        reports.clear()
        total, (first, h) = chain.call(zili.tensor(x, device=device), wt,
                                       on_result=lambda k, t: reports.append((k, t.numpy())))
        want = expected(x)
        for got, ref in zip([total, first, h], want):
            np.testing.assert_allclose(got.numpy(), ref, rtol=2e-5, atol=2e-5)
        if call < 2:  # the eager first call and the tracing call report nothing
            assert reports == []
            continue
        assert sorted(k for k, _ in reports) == [0, 1, 2]
        order = [k for k, _ in reports]
        assert order.index(1) < order.index(2) and order.index(1) < order.index(0), order
        for k, values in reports:  # what was reported is what the call returned
            np.testing.assert_array_equal(values, [total, first, h][k].numpy())
