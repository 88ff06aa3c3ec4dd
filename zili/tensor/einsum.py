"""``zili.einsum``: Einstein summation as broadcasting, one product and one sum.

Each operand's axes are permuted into one global letter order and given size-1 axes for the
letters it lacks; the broadcast product is summed over the letters missing from the output.
Simple and exact, and every device runs it; the intermediate holds every letter at once,
so large contractions belong in ``matmul``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from zili.errors import ArgumentError, ShapeError

if TYPE_CHECKING:
    from zili.tensor.tensor import Tensor


def einsum(equation: str, *operands: Tensor) -> Tensor:
    """``torch.einsum``: e.g. ``einsum('bij,bjk->bik', a, b)``; '...' stands for leading
    broadcast axes; without '->' the output is the letters used once, sorted.

    Raises:
        ArgumentError: for a malformed equation or a letter repeated inside one operand;
        ShapeError: for sizes of one letter that do not agree.
    """
    if len(operands) == 1 and isinstance(operands[0], (list, tuple)):
        operands = tuple(operands[0])
    equation = equation.replace(" ", "")
    inputs, arrow, output = equation.partition("->")
    terms = inputs.split(",")
    if len(terms) != len(operands):
        raise ArgumentError(f"einsum: {equation!r} names {len(terms)} operands, got "
                            f"{len(operands)}")
    ellipsis_ndim = 0
    for term, x in zip(terms, operands):
        if "..." in term:
            ellipsis_ndim = max(ellipsis_ndim, x.ndim - len(term.replace("...", "")))
    dots = "".join(chr(0x3B1 + i) for i in range(ellipsis_ndim))  # Greek: never user letters
    expanded = []
    for term, x in zip(terms, operands):
        if "..." in term:
            own = x.ndim - len(term.replace("...", ""))
            term = term.replace("...", dots[ellipsis_ndim - own:])
        if len(term) != x.ndim:
            raise ArgumentError(f"einsum: term {term!r} has {len(term)} letters for an operand "
                                f"of shape {x.shape}")
        if len(set(term)) != len(term):
            raise ArgumentError(f"einsum: a letter repeated inside one operand ({term!r}, a "
                                "diagonal) is not supported by zili")
        expanded.append(term)
    if arrow:
        output = output.replace("...", dots)
    else:
        counts = {c: "".join(expanded).count(c) for c in set("".join(expanded))}
        output = dots + "".join(sorted(c for c, n in counts.items() if n == 1 and c not in dots))
    letters = list(dict.fromkeys(output + "".join(expanded)))
    sizes: dict[str, int] = {}
    for term, x in zip(expanded, operands):
        for c, n in zip(term, x.shape):
            if n != 1 and sizes.get(c, n) not in (1, n):
                raise ShapeError(f"einsum: letter {c!r} has sizes {sizes[c]} and {n} in "
                                 f"{equation!r}")
            sizes[c] = n if sizes.get(c, 1) == 1 else sizes[c]
    product = None
    for term, x in zip(expanded, operands):
        order = [term.index(c) for c in letters if c in term]
        aligned = x.permute(order) if order != list(range(x.ndim)) else x
        shape = tuple(x.shape[term.index(c)] if c in term else 1 for c in letters)
        aligned = aligned.reshape(shape)
        product = aligned if product is None else product * aligned
    assert product is not None
    full = tuple(sizes.get(c, 1) for c in letters)
    product = product.expand(full) if product.shape != full else product
    summed = tuple(i for i, c in enumerate(letters) if c not in output)
    result = product.sum(summed) if summed else product
    kept = [c for c in letters if c in output]
    return result.permute([kept.index(c) for c in output]) if kept != list(output) else result
