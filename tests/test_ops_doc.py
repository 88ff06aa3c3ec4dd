"""docs/ops.md lists every public operation exactly once per section, names only real
primitives, and its gradient column agrees with autograd for every Tensor method that takes
no argument."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import numpy as np

import zili
import zili.nn.functional as F
from zili.ops import Op

DOC = Path(__file__).resolve().parent.parent / "docs" / "ops.md"

# Tensor methods that are conversions, bookkeeping or host reads, not operations.
NOT_OPS = {"backward", "numpy", "item", "tolist", "size", "dim", "numel", "element_size",
           "is_floating_point", "requires_grad_", "retain_grad",
           "register_post_accumulate_grad_hook", "detach", "to", "float", "double", "half",
           "bfloat16", "long", "int", "short", "char", "byte", "bool", "type",
           "ones_like_scalar", "zeros_like_scalar",
           "equal", "allclose", "detach_", "ndimension", "nelement", "is_complex",
           "is_contiguous", "is_signed", "stride", "storage_offset"}
# zili functions that configure or describe rather than compute.
NOT_OPS_TOP = {"available_devices", "broadcast_shape", "device", "get_autocast_dtype",
               "get_device", "get_rng_state", "is_autocast_enabled", "is_grad_enabled",
               "manual_seed", "promote_types", "set_default_device", "set_grad_enabled",
               "set_rng_state", "jit"}


def sections() -> dict[str, list[tuple[str, str, str]]]:
    text = DOC.read_text(encoding="utf-8")
    out = {}
    for block in text.split("\n## ")[1:]:
        title, body = block.split("\n", 1)
        out[title.strip()] = re.findall(r"^\| `([\w.]+)` \| (\w+|n/a) \| (.+) \|$", body,
                                        flags=re.M)
    return out


def public_tensor_ops() -> set[str]:
    return {n for n in dir(zili.Tensor) if not n.startswith("_") and n not in NOT_OPS
            and callable(getattr(zili.Tensor, n))}


def public_functions() -> set[str]:
    return {n for n in zili.__all__ if inspect.isfunction(getattr(zili, n, None))
            and n not in NOT_OPS_TOP}


def public_functional() -> set[str]:
    return {n for n, v in vars(F).items() if not n.startswith("_") and inspect.isfunction(v)
            and v.__module__.startswith("zili.nn")}


def test_every_public_op_is_listed_once():
    found = sections()
    for title, expected in (("Tensor methods", public_tensor_ops()),
                            ("zili functions", public_functions()),
                            ("zili.nn.functional", public_functional())):
        names = [row[0] for row in found[title]]
        assert len(names) == len(set(names)), f"{title}: a row is repeated"
        assert set(names) == expected, (f"{title}: missing {sorted(expected - set(names))}, "
                                        f"not public {sorted(set(names) - expected)}")


def test_named_primitives_exist_and_gradients_are_known_words():
    primitives = {op.value for op in Op}
    for rows in sections().values():
        for name, gradient, runs in rows:
            assert gradient in ("yes", "no", "zero", "n/a"), name
            for prim in re.findall(r"primitive `(\w+)`", runs):
                assert prim in primitives, f"{name}: {prim} is not a primitive"


def test_gradient_column_matches_autograd_for_argument_free_methods():
    rows = {name: gradient for name, gradient, _ in sections()["Tensor methods"]}
    checked = 0
    for name, gradient in rows.items():
        x = zili.tensor(np.array([[0.3, -1.2, 2.5], [0.7, 0.1, -0.4]]), requires_grad=True)
        try:
            out = getattr(x, name)()
        except (TypeError, RuntimeError):  # needs arguments: its own tests cover the gradient
            continue
        if isinstance(out, tuple):
            out = out[0]
        if not isinstance(out, zili.Tensor):
            continue
        checked += 1
        if gradient == "no":
            assert not out.requires_grad, f"{name}: the table says no gradient"
        else:
            assert out.requires_grad, f"{name}: the table says {gradient}"
            out.sum().backward()
            grad = x.grad.numpy()
            if gradient == "zero":
                assert not grad.any(), f"{name}: the table says a zero gradient"
    assert checked > 40
