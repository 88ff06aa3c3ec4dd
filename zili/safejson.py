"""JSON read from files zili did not necessarily write (checkpoint headers, tokenizer files,
corpus lines): every malformed input becomes one ``ValueError`` with a short reason.

The standard library's parser is exact but lets other exceptions escape on hostile input:
``RecursionError`` for deep nesting, ``ValueError`` (not ``JSONDecodeError``) for integers of
more than 4,300 digits, and it silently keeps the last of two duplicate keys. :func:`loads`
refuses all of these, and nesting deeper than ``max_depth`` (the C parser stops at the
interpreter's recursion limit, about 1,000 levels, in microseconds; the result is then
walked without recursion).
"""

from __future__ import annotations

import json
from typing import Any

MAX_DEPTH = 64
"""Default nesting limit: far above any zili file, far below the interpreter's stack."""

class JSONError(ValueError):
    """Malformed, too deeply nested or ambiguous (duplicate keys) JSON."""


def nesting_depth(value: Any) -> int:
    """How deeply lists and dicts nest in a parsed JSON ``value`` (a scalar is 0)."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, dict):
            node = list(node.values())
        if isinstance(node, list):
            deepest = max(deepest, depth)
            stack.extend((child, depth + 1) for child in node)
    return deepest


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise JSONError(f"duplicate key {key[:80]!r}")
        out[key] = value
    return out


def loads(data: str | bytes, max_depth: int = MAX_DEPTH) -> Any:
    """Parse JSON ``data`` (bytes must be UTF-8).

    Raises:
        JSONError: invalid UTF-8 or JSON, nesting deeper than ``max_depth``, an integer too
            long to convert, or a key repeated within one object.
    """
    if isinstance(data, (bytes, bytearray, memoryview)):
        try:
            data = bytes(data).decode("utf-8")
        except UnicodeDecodeError as e:
            raise JSONError(f"invalid UTF-8 at byte {e.start}") from None
    try:
        value = json.loads(data, object_pairs_hook=_no_duplicates)
    except JSONError:
        raise
    except json.JSONDecodeError as e:
        raise JSONError(f"invalid JSON: {e.msg} at line {e.lineno} column {e.colno}") from None
    except RecursionError:
        raise JSONError(f"nesting too deep (at most {max_depth} levels allowed)") from None
    except (ValueError, OverflowError) as e:
        # int('9' * 5000) refuses (sys.int_info.str_digits_check_threshold)
        raise JSONError(f"invalid JSON: {str(e)[:120]}") from None
    depth = nesting_depth(value)
    if depth > max_depth:
        raise JSONError(f"nesting {depth} levels deep (at most {max_depth} allowed)")
    return value
