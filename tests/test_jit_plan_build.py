"""A jit plan compiles as one program (issue 11 item 4): on the cpu device one shared object
per plan, kernels that render alike share one function, large plans are built as parallel
units whose compiler messages point into the saved source, and the plan does not depend on
when Python's garbage collector last ran."""

from __future__ import annotations

import gc
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import zili
from zili.compiler.runtime import UNIT_BREAK, _units
from zili.devices.cc import build_shared
from zili.devices.compiled import CompileError


def _many(a, b, c, d, widths):
    outs = [(a[:, :k] * b[:, :k]).sum(1) for k in widths]
    h = c
    for _ in range(4):  # the same work in a chain (a model's layers): kernels that render alike
        h = ((h * d).sum(1, keepdim=True) * d).flip(0)
    return outs + [h]


def test_plan_matches_float64_and_is_one_program(device: str, tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    dev = zili.get_device(device)
    if device == "cpu":
        monkeypatch.setattr(dev, "build_jobs", 2)  # two units on any machine
    rng = np.random.default_rng(0)
    arrays = [rng.standard_normal((7, 30)).astype(np.float32) for _ in range(4)]
    # on the cpu device 26 reductions of different widths (26 distinct functions: enough
    # for two units); a few elsewhere (PoCL takes seconds to build a plan this size)
    widths = range(1, 27) if device == "cpu" else range(1, 4)
    fn = zili.jit(_many)
    for call in range(3):  # eager, trace + compile, replay
        if call == 1 and device == "cpu":  # an empty cache, where the plan's object goes
            monkeypatch.setenv("ZILI_CACHE_DIR", str(tmp_path))
        got = fn(*[zili.tensor(x, device=device) for x in arrays], widths)
        a, b, c, d = (x.astype(np.float64) for x in arrays)
        want = [(a[:, :k] * b[:, :k]).sum(1) for k in widths]
        h = c
        for _ in range(4):
            h = ((h * d).sum(1, keepdims=True) * d)[::-1]
        want.append(h)
        for g, w in zip(got, want):
            np.testing.assert_allclose(g.numpy(), w, rtol=1e-5, atol=1e-5)
    if device != "cpu":
        return
    kernels = [s for s in fn.plan.steps if s.kind == "kernel"]
    sources = {s.launch[0].source for s in kernels}
    assert len(sources) == 1, "one source for the whole plan"
    source = sources.pop()
    functions = source.count("\nint ")
    assert len(kernels) >= 28 and functions < len(kernels), "alike kernels share a function"
    assert source.count(UNIT_BREAK) == 1, "two units when the build runs two compilers"
    names = {s.launch[0].program.name for s in kernels}
    assert len(names) == functions
    objects = list((tmp_path / "cpu").glob("j_*.so"))
    assert len(objects) == 1, objects


def test_unit_compile_error_names_the_line_of_the_saved_source(tmp_path: Path) -> None:
    prelude = "#include <math.h>\n"
    good = "".join(f"int f{i}(void) {{\n  return {i};\n}}\n" for i in range(3))
    bad = "int broken(void) {\n  return nope;\n}\n"
    source = prelude + good + UNIT_BREAK + good.replace("int f", "int g") + bad
    path = tmp_path / "plan.c"
    path.write_text(source)
    line = source.splitlines().index("  return nope;") + 1
    with pytest.raises(CompileError) as info:
        build_shared("cc", "broken", path, source, prelude)
    assert f"{path}:{line}" in str(info.value)
    assert not list(tmp_path.glob(".build-*")), "the unit files are removed"


def test_units_build_one_working_object(tmp_path: Path) -> None:
    import ctypes

    prelude = "static inline int twice(int x) { return 2 * x; }\n"
    bodies = [f"int f{i}(void) {{ return twice({i}); }}\n" for i in range(6)]
    source = prelude + "".join(_units(bodies, 3))
    assert source.count(UNIT_BREAK) == 0, "too few functions to cut"
    source = prelude + bodies[0] + UNIT_BREAK + "".join(bodies[1:4]) + UNIT_BREAK + \
        "".join(bodies[4:])
    path = tmp_path / "plan.c"
    path.write_text(source)
    (tmp_path / "plan.so").write_bytes(build_shared("cc", "f0", path, source, prelude))
    library = ctypes.CDLL(str(tmp_path / "plan.so"))
    assert [getattr(library, f"f{i}")() for i in range(6)] == [2 * i for i in range(6)]


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(1, 500), max_size=80), st.integers(1, 8))
def test_units_keep_every_body_in_order(lengths: list[int], jobs: int) -> None:
    bodies = [chr(97 + i % 26) * n + "\n" for i, n in enumerate(lengths)]
    out = _units(bodies, jobs)
    assert [b for b in out if b != UNIT_BREAK] == bodies
    units = out.count(UNIT_BREAK) + 1
    assert units <= max(1, jobs) and (units == 1 or len(bodies) >= 12 * units)
    assert out[:1] != [UNIT_BREAK] and out[-1:] != [UNIT_BREAK]


def test_plan_does_not_depend_on_garbage_collection(device: str) -> None:
    def clean(x):
        return (x * 2.0).exp().sum()

    def wasteful(x):
        waste = [x * 3.0]  # a traced tensor kept only by a reference cycle: garbage
        waste.append(waste)
        return (x * 2.0).exp().sum()

    counts = []
    for step in (clean, wasteful):
        fn = zili.jit(step)
        x = zili.tensor(np.linspace(-1, 1, 12, dtype=np.float32), device=device)
        fn(x)
        gc.disable()  # the cycle is still there when the plan is built
        try:
            got = fn(x)
        finally:
            gc.enable()
        counts.append(fn.plan.kernel_count)
        np.testing.assert_allclose(float(got.item()),
                                   np.exp(2 * np.linspace(-1, 1, 12)).sum(), rtol=1e-5)
    assert counts[0] == counts[1], "garbage left for the collector became a plan output"
