"""Refuse regular expressions that can backtrack exponentially.

A tokenizer.json may carry regexes (``{"Regex": ...}`` in a Split pre-tokenizer or a
Replace normalizer) that the ``tokenizers`` library runs with Oniguruma, a backtracking
engine, on every text it encodes. A pattern such as ``(a+)+$`` takes time exponential in
the input's length, and a checkpoint embeds its tokenizer, so a hostile file could hang
``zili generate``. Oniguruma has no time limit to set, so the patterns are checked before
the library sees them.

The rule is syntactic and conservative: a group repeated without bound or more than once
(``*``, ``+``, ``{n,}``, ``{n,m}`` with m > 1, unless possessive) must contain neither a
repetition nor an alternation, and a quantifier may not follow another. Every regex of the
tokenizers in common use (GPT-2, LLaMA 3, Qwen2, o200k) passes; ``(a+)+``, ``(a|a)*``,
``(\\w+\\s?)*`` and ``(?:x*)*`` do not.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

MAX_PATTERN = 4096
"""Longest pattern accepted (characters)."""


def _quantifier(p: str, i: int) -> tuple[int, bool]:
    """(index after the quantifier at ``i``, whether it repeats more than once); a
    possessive ``+`` after it is consumed and makes it harmless."""
    n = len(p)
    if i >= n:
        return i, False
    c = p[i]
    if c in "*+":
        j, repeats = i + 1, True
    elif c == "?":
        j, repeats = i + 1, False
    elif c == "{":
        close = p.find("}", i)
        body = p[i + 1:close] if close > 0 else ""
        low, comma, high = body.partition(",")
        if close < 0 or not low.strip().isdigit() and not (comma and high.strip().isdigit()):
            return i, False  # a literal "{"
        j = close + 1
        repeats = bool(comma) and (not high.strip() or int(high) > 1) or \
            not comma and int(low) > 1
    else:
        return i, False
    if j < n and p[j] == "?":  # lazy: same backtracking
        j += 1
    elif j < n and p[j] == "+":  # possessive: never gives back, so never backtracks
        return j + 1, False
    return j, repeats


def _skip_class(p: str, i: int) -> int:
    """Index after the character class that starts at ``p[i] == '['`` (nested classes and
    escapes included)."""
    depth, j, n = 0, i, len(p)
    while j < n:
        c = p[j]
        if c == "\\":
            j += 2
            continue
        if c == "[":
            depth += 1
            j += 1
            if j < n and p[j] == "^":
                j += 1
            if j < n and p[j] == "]":
                j += 1  # a leading "]" is a literal
            continue
        if c == "]":
            depth -= 1
            j += 1
            if depth == 0:
                return j
            continue
        j += 1
    return n


def _skip_escape(p: str, i: int) -> int:
    """Index after the escape that starts at ``p[i] == '\\'`` (``\\p{L}``, ``\\x{41}``)."""
    if i + 2 < len(p) and p[i + 1] in "pPxuk" and p[i + 2] == "{":
        close = p.find("}", i + 2)
        return len(p) if close < 0 else close + 1
    return i + 2


def backtracking_risk(pattern: str) -> str | None:
    """Why ``pattern`` could backtrack exponentially, or None when it cannot (by the rule in
    the module docstring)."""
    if len(pattern) > MAX_PATTERN:
        return f"it is {len(pattern)} characters long (at most {MAX_PATTERN})"
    p, n, i = pattern, len(pattern), 0
    # one frame per open group: [has repetition, has alternation, atomic]
    stack: list[list[bool]] = [[False, False, False]]
    after_atom = False  # a quantifier here applies to an atom
    while i < n:
        c = p[i]
        if c == "\\":
            i, after_atom = _skip_escape(p, i), True
        elif c == "[":
            i, after_atom = _skip_class(p, i), True
        elif c == "(":
            i += 1
            atomic = False
            if p.startswith("?", i):
                if p.startswith("?#", i):  # comment
                    close = p.find(")", i)
                    i = n if close < 0 else close + 1
                    continue
                atomic = p.startswith("?>", i)
                j = i + 1
                while j < n and p[j] not in ":)":
                    if p[j] in "=!>" or p[j] == "<" and j + 1 < n and p[j + 1] in "=!":
                        break
                    j += 1
                if j < n and p[j] == ")":  # inline flags such as (?i)
                    i, after_atom = j + 1, False
                    continue
                i = j + 1 if j < n and p[j] == ":" else j + 1
            stack.append([False, False, atomic])
            after_atom = False
        elif c == ")":
            if len(stack) == 1:
                return "it has an unbalanced ')'"
            rep, alt, atomic = stack.pop()
            i, repeats = _quantifier(p, i + 1)
            if repeats and (rep or alt) and not atomic:
                inner = "a repetition" if rep else "an alternation"
                return f"a repeated group contains {inner} (nested quantifiers)"
            if _quantifier(p, i)[1]:
                return "a quantifier follows another quantifier"
            if not atomic:
                stack[-1][0] |= rep or repeats
                stack[-1][1] |= alt
            after_atom = False
        elif c == "|":
            stack[-1][1] = True
            i, after_atom = i + 1, False
        else:
            j, repeats = _quantifier(p, i)
            if j > i:  # a quantifier on the previous atom
                if not after_atom and p[i] != "{":
                    return "a quantifier follows another quantifier or nothing"
                stack[-1][0] |= repeats
                i, after_atom = j, False
            else:
                i, after_atom = i + 1, True
    if len(stack) != 1:
        return "it has an unbalanced '('"
    return None


def find_regexes(node: Any) -> Iterator[str]:
    """Every ``{"Regex": pattern}`` value anywhere in a parsed tokenizer.json."""
    stack = [node]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            value = item.get("Regex")
            if isinstance(value, str):
                yield value
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
