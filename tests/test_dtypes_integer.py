"""The integer dtypes PyTorch has, against PyTorch on every device.

int8, int16, uint8, int32 and int64 are complete; uint16, uint32 and uint64 are PyTorch's
"limited" types (few kernels, promotion only with themselves and floats), and zili must
accept and refuse the same operations on them. Covered: promotion and results of binary
operators on random dtype pairs and values (Python scalars included), wrapping on
overflow, integer division / remainder / shift semantics at the extremes, reductions,
indexing and gather/scatter with these dtypes as data, creation, pow's promotion,
safetensors files (checked with the ``safetensors`` package) and NumPy/DLPack exchange.
The oracle is always PyTorch (or the safetensors package), never zili itself.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
import safetensors.numpy
import torch
from helpers import TORCH_DTYPE
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import zili
from zili import dtype as dtypes
from zili.errors import DTypeError

ALL = [d.name for d in dtypes.ALL_DTYPES]
INTS = [d.name for d in dtypes.INTEGERS]
LIMITED = [d.name for d in dtypes.LIMITED]
FULL_INTS = [n for n in INTS if n not in LIMITED]  # uint8, int8, int16, int32, int64
NEW = ["int8", "int16", "uint16", "uint32", "uint64"]


def _examples(device: str, host: int, compiled: int) -> Any:
    """Fewer examples where every new kernel is compiled (each costs a C/OpenCL build), and
    there the same ones every run, so the kernel cache serves them; the numpy device (no
    builds) explores new random examples every run."""
    return settings(max_examples=host if device == "numpy" else compiled, deadline=None,
                    derandomize=device != "numpy",
                    suppress_health_check=[HealthCheck.function_scoped_fixture,
                                           HealthCheck.too_slow])


def _values(name: str, size: int) -> st.SearchStrategy:
    """``size`` values of dtype ``name``: the whole range, its ends and small numbers."""
    dt = dtypes.to_dtype(name)
    if dt.is_floating_point:  # whole numbers: exact in every float type, so no rounding noise
        element = st.integers(-60, 60)
    elif dt is dtypes.bool_:
        element = st.integers(0, 1)
    else:
        element = st.one_of(st.integers(dt.min, dt.max),
                            st.sampled_from([dt.min, dt.max, 0, 1, 2, dt.max - 1]),
                            st.integers(-3 if dt.is_signed else 0, 3))
    return st.lists(element, min_size=size, max_size=size)


def _pair(values: list, name: str, device: str) -> tuple[zili.Tensor, torch.Tensor]:
    array = np.array(values, dtype=np.int64 if min(values, default=0) < 0 else np.uint64)
    array = array.astype(dtypes.to_dtype(name).numpy)
    tensor = torch.from_numpy(array.astype(np.float32) if name == "bfloat16" else array.copy())
    return zili.tensor(array, device=device), tensor.to(TORCH_DTYPE[name])


def _check(zfn: Callable[..., Any], tfn: Callable[..., Any], zargs: tuple, targs: tuple,
           what: object) -> None:
    """Both raise, or both give the same dtype and values (NaN where PyTorch has NaN)."""
    try:
        expected = tfn(*targs)
    except (RuntimeError, NotImplementedError, TypeError):
        with pytest.raises((RuntimeError, TypeError)):
            zfn(*zargs)
        return
    got = zfn(*zargs)
    _same(got, expected, what)


def _same(got: zili.Tensor, expected: torch.Tensor, what: object) -> None:
    assert got.dtype.name == str(expected.dtype).removeprefix("torch."), what
    e = expected.to(torch.float64).numpy() if expected.dtype in (torch.bfloat16,) else \
        expected.numpy()
    g = got.numpy()
    assert g.shape == e.shape, what
    if got.dtype.is_floating_point:
        rtol = 1e-6 if got.dtype.itemsize >= 4 else 1e-2
        np.testing.assert_allclose(g.astype(np.float64), e.astype(np.float64), rtol=rtol,
                                   err_msg=str(what))
    else:
        np.testing.assert_array_equal(g, e, err_msg=str(what))


def _moderate(values: list) -> list:
    """Values clipped to +-1000: 65520 becomes inf in float16, and floor division of inf
    (NaN in PyTorch, as in Python) is a float question, not this file's subject."""
    return [max(min(v, 1000), -1000) for v in values]


BINARY = {"+": operator.add, "-": operator.sub, "*": operator.mul, "/": operator.truediv,
          "//": operator.floordiv, "%": operator.mod, "&": operator.and_, "|": operator.or_,
          "^": operator.xor, "<": operator.lt, "<=": operator.le, "==": operator.eq,
          "!=": operator.ne, "maximum": lambda a, b: a.maximum(b),
          "minimum": lambda a, b: a.minimum(b), "<<": operator.lshift, ">>": operator.rshift,
          "trunc": lambda a, b: a.div(b, rounding_mode="trunc")}
TORCH_BINARY = {**BINARY, "maximum": torch.maximum, "minimum": torch.minimum,
                "trunc": lambda a, b: torch.div(a, b, rounding_mode="trunc")}


def test_binary_ops_on_random_dtype_pairs_match_torch(device: str) -> None:
    """Promotion, values and wrapping of every binary operator on random dtype pairs (or a
    Python scalar on the right), as PyTorch; both refuse the same pairs and ops."""

    @_examples(device, 80, 20)
    @given(data=st.data())
    def run(data: st.DataObject) -> None:
        a_name = data.draw(st.sampled_from(ALL), "a")
        op = data.draw(st.sampled_from(sorted(BINARY)), "op")
        size = data.draw(st.integers(1, 5), "size")
        a_values = data.draw(_values(a_name, size), "a values")
        if op in ("//", "%", "trunc"):
            a_values = _moderate(a_values)
        za, ta = _pair(a_values, a_name, device)
        # torch.maximum/minimum take no Python number
        if op not in ("maximum", "minimum") and data.draw(st.booleans(), "scalar operand"):
            zb = tb = data.draw(st.one_of(st.integers(-300, 300), st.sampled_from([0.5, -2.0])),
                                "scalar")
            if op in ("//", "%", "trunc") and zb == 0:
                zb = tb = 3  # PyTorch raises ZeroDivisionError on integers; zili gives 0
        else:
            b_name = data.draw(st.sampled_from(ALL), "b")
            values = data.draw(_values(b_name, size), "b values")
            if op in ("//", "%", "trunc"):
                values = [v if v != 0 else 1 for v in _moderate(values)]
            zb, tb = _pair(values, b_name, device)
        _check(BINARY[op], TORCH_BINARY[op], (za, zb), (ta, tb), (op, za.dtype, zb, tb))

    run()


def test_shifts_match_torch_at_every_amount(device: str) -> None:
    """<< and >> by amounts from negative to past the width (0 or the sign fill, as
    PyTorch), tensor and scalar amounts, for every integer type that has shifts."""
    for name in FULL_INTS:
        dt = dtypes.to_dtype(name)
        za, ta = _pair([dt.min, dt.min + 1, -1 if dt.is_signed else 0, 1, 5, dt.max] * 2,
                       name, device)
        amounts = [-2, -1, 0, 1, 3, dt.bits - 2, dt.bits - 1, dt.bits, dt.bits + 1, 70, 7, 2]
        if not dt.is_signed:
            amounts = [a % 256 for a in amounts]
        zb, tb = _pair(amounts, name, device)
        for op in (operator.lshift, operator.rshift):
            _same(op(za, zb), op(ta, tb), (name, op))
            for k in (0, 1, dt.bits - 1, dt.bits):
                _same(op(za, k), op(ta, k), (name, op, k))


def test_integer_division_and_remainder_at_the_extremes(device: str) -> None:
    """//, %, trunc division and true division on every pair of extreme values (MIN // -1
    wraps to MIN, as PyTorch), for every integer type that has them."""
    for name in FULL_INTS:
        dt = dtypes.to_dtype(name)
        ends = [dt.min, dt.min + 1, -7 if dt.is_signed else 7, -1 if dt.is_signed else 1, 1,
                3, dt.max - 1, dt.max]
        divisors = [y for y in ends if y != 0]  # PyTorch raises ZeroDivisionError on 0
        a = [x for x in ends for _ in divisors]
        b = [y for _ in ends for y in divisors]
        za, ta = _pair(a, name, device)
        zb, tb = _pair(b, name, device)
        for op in ("//", "%", "/"):
            _same(BINARY[op](za, zb), TORCH_BINARY[op](ta, tb), (name, op))
        # PyTorch's trunc division of MIN by -1 dies of SIGFPE (int32/int64): leave it out
        keep = [i for i, (x, y) in enumerate(zip(a, b)) if not (x == dt.min and y == -1)]
        za, ta = _pair([a[i] for i in keep], name, device)
        zb, tb = _pair([b[i] for i in keep], name, device)
        _same(BINARY["trunc"](za, zb), TORCH_BINARY["trunc"](ta, tb), (name, "trunc"))


def test_overflow_wraps_as_torch(device: str) -> None:
    """+, -, * and negation wrap around in every integer type, as in PyTorch (and C)."""
    for name in FULL_INTS:
        dt = dtypes.to_dtype(name)
        za, ta = _pair([dt.max, dt.min, dt.max, dt.max // 2 + 3], name, device)
        zb, tb = _pair([1, dt.max, dt.max, 5], name, device)
        for op in (operator.add, operator.sub, operator.mul):
            _same(op(za, zb), op(ta, tb), (name, op))
        _same(za * 1000, ta * 1000, (name, "scalar"))
        if name != "uint8":
            _same(-za, -ta, (name, "neg"))
            _same(za.abs(), ta.abs(), (name, "abs"))
    z = zili.tensor([1, 7], dtype=zili.int32, device=device)
    assert (z | 0xFFFFFFFF).tolist() == (torch.tensor([1, 7], dtype=torch.int32)
                                         | 0xFFFFFFFF).tolist() == [-1, -1]


REDUCTIONS: dict[str, Callable[[Any, int | None], Any]] = {
    "sum": lambda x, d: x.sum() if d is None else x.sum(d),
    "prod": lambda x, d: x.prod() if d is None else x.prod(d),
    "cumsum": lambda x, d: x.cumsum(0 if d is None else d),
    "amax": lambda x, d: x.amax() if d is None else x.amax(d),
    "amin": lambda x, d: x.amin() if d is None else x.amin(d),
    "max": lambda x, d: x.max() if d is None else x.max(d)[0],
    "min": lambda x, d: x.min() if d is None else x.min(d)[0],
    "argmax": lambda x, d: x.argmax() if d is None else x.argmax(d),
    "argmin": lambda x, d: x.argmin() if d is None else x.argmin(d),
}


def test_reductions_of_every_integer_type_match_torch(device: str) -> None:
    """sum/prod/cumsum (in int64, as PyTorch: the sum of int8 is int64), min/max/amin/amax/
    argmax/argmin of every integer type; the limited types raise where PyTorch does."""

    @_examples(device, 40, 10)
    @given(data=st.data())
    def run(data: st.DataObject) -> None:
        name = data.draw(st.sampled_from(INTS), "dtype")
        rows, cols = data.draw(st.integers(1, 3), "rows"), data.draw(st.integers(1, 4), "cols")
        values = data.draw(_values(name, rows * cols), "values")
        za, ta = _pair(values, name, device)
        za, ta = za.reshape(rows, cols), ta.reshape(rows, cols)
        op = data.draw(st.sampled_from(sorted(REDUCTIONS)), "op")
        dim = data.draw(st.sampled_from([None, 0, 1]), "dim")
        if name in LIMITED and op.startswith("arg") and dim is not None:
            dim = None  # PyTorch's argmax skips its dtype check over a size-1 axis
        _check(REDUCTIONS[op], REDUCTIONS[op], (za, dim), (ta, dim), (name, op, dim))

    run()


def _limited_cases() -> dict[str, Callable[[Any, Any, Any], Any]]:
    """Operations on a limited-type tensor ``x`` (``lib`` is torch or zili, ``mk`` makes a
    tensor of that library on x's device): PyTorch 2.13 runs some and raises on the rest;
    zili must do the same."""
    return {
        "mul": lambda x, lib, mk: x * x, "mul scalar": lambda x, lib, mk: x * 3,
        "true div": lambda x, lib, mk: x / (x | 1), "eq": lambda x, lib, mk: x == x,
        "ne scalar": lambda x, lib, mk: x != 2, "and": lambda x, lib, mk: x & 6,
        "or": lambda x, lib, mk: x | x, "xor": lambda x, lib, mk: x ^ 5,
        "sum": lambda x, lib, mk: x.sum(), "sum dim": lambda x, lib, mk: x.sum(0),
        "prod": lambda x, lib, mk: x.prod(), "cumsum": lambda x, lib, mk: x.cumsum(0),
        "sort": lambda x, lib, mk: x.sort()[0], "argsort": lambda x, lib, mk: x.argsort(),
        "sort descending":
            lambda x, lib, mk: x.sort(descending=True)[0],
        "float": lambda x, lib, mk: x.float(), "to int64": lambda x, lib, mk: x.to(lib.int64),
        "to uint8": lambda x, lib, mk: x.to(lib.uint8), "bool": lambda x, lib, mk: x.bool(),
        "exp": lambda x, lib, mk: (x & 3).exp(), "any": lambda x, lib, mk: x.any(),
        "index": lambda x, lib, mk: x[mk([2, 0])], "slice": lambda x, lib, mk: x[1:],
        "cat": lambda x, lib, mk: lib.cat([x, x]), "stack": lambda x, lib, mk: lib.stack([x, x]),
        "where": lambda x, lib, mk: lib.where(x == 2, x, x * 2),
        "reshape T": lambda x, lib, mk: x.reshape(2, 2).T.contiguous(),
        "pow float": lambda x, lib, mk: (x & 7) ** 2.5,
        "add": lambda x, lib, mk: x + x,
        "add scalar": lambda x, lib, mk: x + 1,
        "sub": lambda x, lib, mk: x - x, "neg": lambda x, lib, mk: -x,
        "lt": lambda x, lib, mk: x < x,
        "ge scalar": lambda x, lib, mk: x >= 2,
        "floordiv": lambda x, lib, mk: x // 2,
        "remainder": lambda x, lib, mk: x % 2, "invert": lambda x, lib, mk: ~x,
        "lshift": lambda x, lib, mk: x << 1, "rshift": lambda x, lib, mk: x >> 1,
        "maximum": lambda x, lib, mk: x.maximum(x), "amax": lambda x, lib, mk: x.amax(),
        "amin": lambda x, lib, mk: x.amin(), "max": lambda x, lib, mk: x.max(),
        "argmax": lambda x, lib, mk: x.argmax(), "abs": lambda x, lib, mk: x.abs(),
        "sign": lambda x, lib, mk: x.sign(), "pow int": lambda x, lib, mk: x ** 2,
        "square": lambda x, lib, mk: x.square(), "clamp": lambda x, lib, mk: x.clamp(0, 3),
        "flip": lambda x, lib, mk: x.flip(0), "matmul": lambda x, lib, mk: x @ x,
        "gather": lambda x, lib, mk: x.gather(0, mk([1])),
        "index_select": lambda x, lib, mk: x.index_select(0, mk([1])),
        "scatter_add": lambda x, lib, mk: x.scatter_add(0, mk([1]), x),
        "masked_fill": lambda x, lib, mk: x.masked_fill(x == 2, 0),
        "cummax": lambda x, lib, mk: x.cummax(0)[0], "relu": lambda x, lib, mk: x.relu(),
        "with int32": lambda x, lib, mk: x * mk([1, 2, 3, 4], lib.int32),
        "with bool": lambda x, lib, mk: x * mk([True, False, True, True]),
    }


@pytest.mark.parametrize("name", LIMITED)
def test_limited_unsigned_types_accept_and_refuse_what_torch_does(device: str,
                                                                   name: str) -> None:
    """uint16/uint32/uint64: each case runs in both or raises in both; zili's error is a
    DTypeError (a RuntimeError, as PyTorch's) naming the operation's dtype."""
    dt = dtypes.to_dtype(name)
    values = [5, dt.max, 2, 0]
    z, t = _pair(values, name, device)
    def zmk(values: list, dtype: Any = None) -> zili.Tensor:
        return zili.tensor(values, dtype=dtype, device=device)

    for case, fn in _limited_cases().items():
        try:
            expected = fn(t, torch, lambda v, d=None: torch.tensor(v, dtype=d))
        except (RuntimeError, NotImplementedError):
            with pytest.raises(DTypeError, match=name) as info:
                fn(z, zili, zmk)
            assert isinstance(info.value, RuntimeError), case  # as PyTorch users catch it
            continue
        _same(fn(z, zili, zmk), expected, (name, case))
    with pytest.raises(DTypeError, match=rf"arange.*{name}"):
        zili.arange(3, dtype=dt, device=device)
    with pytest.raises(RuntimeError):
        torch.arange(3, dtype=TORCH_DTYPE[name])


@pytest.mark.parametrize("name", NEW)
def test_creation_and_casts_match_torch(device: str, name: str) -> None:
    """zili.tensor / zeros / ones / full / arange / .to / .type / names of the new dtypes,
    and PyTorch's range check on creation (in range or wrapping negatives: accepted)."""
    dt, tdt = getattr(zili, name), TORCH_DTYPE[name]
    assert dt is dtypes.to_dtype(name) and dt.itemsize == tdt.itemsize
    assert dt.is_signed == tdt.is_signed and not dt.is_floating_point
    data = [0, 1, dt.max, dt.min, 7]
    _same(zili.tensor(data, dtype=dt, device=device), torch.tensor(data, dtype=tdt), name)
    if not dt.is_signed and name != "uint64":  # a negative wraps (uint64: PyTorch refuses)
        _same(zili.tensor([-1, -5], dtype=dt, device=device),
              torch.tensor([-1, -5], dtype=tdt), name)
    for bad in (dt.max + 1, -(1 << dt.bits)):
        with pytest.raises((RuntimeError, OverflowError)):
            torch.tensor([bad], dtype=tdt)
        with pytest.raises(RuntimeError, match="without overflow"):
            zili.tensor([bad], dtype=dt, device=device)
        with pytest.raises(RuntimeError, match="without overflow"):
            zili.full((2,), bad, dtype=dt, device=device)
    _same(zili.zeros(2, 3, dtype=dt, device=device), torch.zeros(2, 3, dtype=tdt), name)
    _same(zili.ones(4, dtype=dt, device=device), torch.ones(4, dtype=tdt), name)
    _same(zili.full((3,), 9, dtype=dt, device=device), torch.full((3,), 9, dtype=tdt), name)
    if name not in LIMITED:
        _same(zili.arange(2, 11, 3, dtype=dt, device=device),
              torch.arange(2, 11, 3, dtype=tdt), name)
    source = np.array([-2.7, 0.5, 3.9, 100.2])
    zf, tf = zili.tensor(source, device=device), torch.tensor(source)
    if dt.is_signed:  # float to int truncates toward zero
        _same(zf.to(dt), tf.to(tdt), (name, "from float"))
    _same(zf.abs().type(dt), tf.abs().type(tdt), (name, "type"))
    zi, ti = zili.tensor(data, dtype=dt, device=device), torch.tensor(data, dtype=tdt)
    for other in ("int64", "float64", "float32", "uint8", "int8", "bool", name):
        _same(zi.to(other), ti.to(TORCH_DTYPE[other]), (name, "to", other))
    _same(zi.to(zili.int64).to(dt), ti.to(torch.int64).to(tdt), (name, "round trip"))
    method = {"int16": "short", "int8": "char"}.get(name)
    if method:
        _same(getattr(zi, method)(), getattr(ti, method)(), (name, method))
    assert zili.short is zili.int16 and zili.tensor([1], device=device).byte().dtype is \
        zili.uint8


@pytest.mark.parametrize("name", ["int8", "int16", "uint8"])
def test_indexing_gather_scatter_with_new_dtypes_as_data(device: str, name: str) -> None:
    """Indexing, slicing, masks, gather (int64 and int32 indices), scatter_add and
    index_select with small integer types as the data, as PyTorch."""
    rng = np.random.default_rng(3)
    dt = dtypes.to_dtype(name)
    array = rng.integers(dt.min, dt.max + 1, (3, 5)).astype(dt.numpy)
    z, t = zili.tensor(array, device=device), torch.from_numpy(array.copy())
    index = rng.integers(0, 5, (3, 4))
    zi, ti = zili.tensor(index, device=device), torch.from_numpy(index)
    zi32 = zili.tensor(index.astype(np.int32), device=device)
    _same(z.gather(1, zi), t.gather(1, ti), "gather")
    _same(z.gather(1, zi32), t.gather(1, ti.to(torch.int32)), "gather int32")
    _same(z.scatter_add(1, zi, z[:, :4]), t.scatter_add(1, ti, t[:, :4]), "scatter_add")
    _same(z[zili.tensor([2, 0], device=device)], t[torch.tensor([2, 0])], "index")
    _same(z[1:, ::2], t[1:, ::2], "slice")
    _same(z[z > 0], t[t > 0], "mask")
    _same(z.index_select(1, zili.tensor([4, 1], device=device)),
          t.index_select(1, torch.tensor([4, 1])), "index_select")
    _same(z.flip(0), t.flip(0), "flip")
    zc, tc = z.clone(), t.clone()
    zc[0, 1:3] = 5
    tc[0, 1:3] = 5
    _same(zc, tc, "setitem")


def test_pow_promotion_and_exactness_of_small_types(device: str) -> None:
    """int8/int16 ** int stays exact (wrapping), ** float gives float32, as PyTorch."""
    for name in ("int8", "int16", "uint8"):
        z, t = _pair([3, -2 if name != "uint8" else 2, 0, 5, 7], name, device)
        for p in (0, 2, 3, 9):
            _same(z ** p, t ** p, (name, p))
        _same(z ** 2.5, t ** 2.5, (name, 2.5))
        e = [0, 1, 2, 3, 4]
        ze, te = _pair(e, name, device)
        _same(z ** ze, t ** te, (name, "tensor exponent"))


def test_safetensors_round_trip_of_every_integer_type(device: str, tmp_path: Any) -> None:
    """zili writes every integer type so that the safetensors package reads the same arrays,
    and loads the package's files back with their dtypes."""
    arrays = {name: np.array([dtypes.to_dtype(name).min, 0, 1, dtypes.to_dtype(name).max],
                             dtype=dtypes.to_dtype(name).numpy) for name in INTS}
    path = tmp_path / "ints.safetensors"
    zili.save({name: zili.tensor(a, device=device) for name, a in arrays.items()}, path)
    read = safetensors.numpy.load_file(str(path))
    for name, a in arrays.items():
        assert read[name].dtype == a.dtype
        np.testing.assert_array_equal(read[name], a)
    theirs = tmp_path / "theirs.safetensors"
    safetensors.numpy.save_file(arrays, str(theirs))
    loaded = zili.load(theirs, device=device)
    for name, a in arrays.items():
        assert loaded[name].dtype.name == name
        np.testing.assert_array_equal(loaded[name].numpy(), a)


@pytest.mark.parametrize("name", NEW)
def test_numpy_and_dlpack_exchange(device: str, name: str) -> None:
    """NumPy arrays and PyTorch tensors of the new dtypes come in and go out with their
    dtype and values (memory shared on host devices, as PyTorch's from_numpy)."""
    dt = dtypes.to_dtype(name)
    array = np.array([dt.min, 3, dt.max], dtype=dt.numpy)
    z = zili.from_numpy(array, device=device)
    assert z.dtype is dt
    np.testing.assert_array_equal(z.numpy(), array)
    t = torch.from_numpy(array.copy())
    back = zili.from_dlpack(t, device=device)
    assert back.dtype is dt
    np.testing.assert_array_equal(back.numpy(), t.numpy())
    if zili.get_device(device).name in ("numpy", "cpu"):
        array[1] = 9  # shared memory: the tensor sees the write
        assert int(z[1].item()) == 9
        out = torch.from_dlpack(z)
        assert out.dtype == TORCH_DTYPE[name]
        np.testing.assert_array_equal(out.numpy(), array)


@pytest.mark.parametrize("name", NEW)
def test_jit_fuses_the_new_dtypes_as_eager_torch(device: str, name: str) -> None:
    """A jitted function over the new dtypes (fused kernels with constants baked in: the
    static mode of every renderer) gives PyTorch's eager values on its traced replays."""
    dt = dtypes.to_dtype(name)
    limited = dt in dtypes.LIMITED

    def body(x: Any, y: Any) -> tuple[Any, Any]:
        if limited:
            mixed = ((x * y) ^ 0x5A) & (x | 3)
        else:
            mixed = ((x * y - x) ^ 0x5A) + (x // 3) % 5 - ((y << 2) >> 1)
        return mixed, (mixed * 7).sum(1)

    jitted = zili.jit(body)
    for seed in range(3):  # eager, traced, replayed
        rng = np.random.default_rng(seed)
        xs, ys = (rng.integers(dt.min, dt.max, (3, 7), endpoint=True, dtype=dt.numpy)
                  for _ in range(2))
        got = jitted(zili.tensor(xs, device=device), zili.tensor(ys, device=device))
        expected = body(torch.from_numpy(xs), torch.from_numpy(ys))
        for g, e in zip(got, expected):
            _same(g, e, (name, seed))
