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

    A letter repeated inside one operand takes that operand's diagonal ('ii->i', 'iij->j').

    Raises:
        ArgumentError: for a malformed equation;
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
        expanded.append(term)
    operands = list(operands)
    written = "".join(expanded)  # the implicit output counts letters as written
    for k, term in enumerate(expanded):
        while len(set(term)) != len(term):  # a repeated letter: that operand's diagonal
            operands[k], term = _diagonal(operands[k], term, equation)
        expanded[k] = term
    if arrow:
        output = output.replace("...", dots)
    else:
        counts = {c: written.count(c) for c in set(written)}
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


def _diagonal(x: Tensor, term: str, equation: str) -> tuple[Tensor, str]:
    """The diagonal over the first letter repeated in ``term``, as views: the two axes go
    last, are flattened to m*m elements, padded to m*(m+1) and read with stride m+1."""
    c = next(ch for ch in term if term.count(ch) > 1)
    i = term.index(c)
    j = term.index(c, i + 1)
    m = x.shape[i]
    if x.shape[j] != m:
        raise ShapeError(f"einsum: letter {c!r} has sizes {m} and {x.shape[j]} in one operand "
                         f"of {equation!r}")
    rest = [d for d in range(x.ndim) if d not in (i, j)]
    moved = x.permute(rest + [i, j])
    outer = moved.shape[:-2]
    flat = moved.reshape(outer + (m * m,))
    padded = flat.pad_axes(tuple((0, 0) for _ in outer) + ((0, m),))
    diag = padded.reshape(outer + (m, m + 1)).narrow(-1, 0, 1).reshape(outer + (m,))
    return diag, "".join(term[d] for d in rest) + c
