"""Graph order shared by autograd (the backward walk) and the compiler (kernel IR and the
fusion scheduler): one iterative depth-first post-order, so deep graphs never hit Python's
recursion limit."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TypeVar

Node = TypeVar("Node")


def postorder(roots: Iterable[Node], sources: Callable[[Node], Iterable[Node]]) -> list[Node]:
    """Every node reachable from ``roots`` through ``sources`` once, sources before users."""
    order: list[Node] = []
    seen: set[int] = set()
    stack: list[tuple[Node, bool]] = [(r, False) for r in roots]
    while stack:
        node, done = stack.pop()
        if done:
            order.append(node)
            continue
        if id(node) in seen:
            continue
        seen.add(id(node))
        stack.append((node, True))
        stack.extend((s, False) for s in sources(node))
    return order
