"""Normalisation: one canonical spelling of each text before it is filtered and hashed.

Steps, in order: line breaks to ``\\n``; whole terminal escape sequences removed (colour
codes such as ``ESC[33;1m``, cursor moves, title strings: removing only the ESC character
would leave ``[33;1m`` in the text); Unicode NFKC (which maps full-width letters and digits
such as ``ＡＢＣ１２３`` to ``ABC123`` and the ideographic space to a space) except for
Chinese punctuation, which stays full-width (``，：；！？（）～…``: NFKC would turn it into
ASCII and a model would learn to write Chinese with ASCII commas); ASCII ``, : ; ! ? ( )``
between two CJK characters (or ending a CJK line) made full-width, for the same reason;
removal of control characters (except newline and tab) and of zero-width and other format
characters; whitespace tidied (tabs and runs of spaces become one space, lines are
stripped, more than one blank line becomes one); optionally traditional to simplified
Chinese through OpenCC.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache
from typing import Any

# Control (Cc) and format (Cf: zero-width space/joiners, BOM, soft hyphen, bidi marks)
# characters, except \n and \t, which carry layout and are handled below.
_DROP = "".join(
    chr(c) for c in range(0x110000)
    if unicodedata.category(chr(c)) in ("Cc", "Cf") and chr(c) not in "\n\t"
)
_DROP_TABLE: dict[int, str | None] = {ord(c): None for c in _DROP}
_DROP_TABLE[0x2028] = "\n"  # line separator
_DROP_TABLE[0x2029] = "\n\n"  # paragraph separator
_SPACES = re.compile(r"[ \t\u00a0\u2000-\u200a\u202f\u205f]+")
# ECMA-48 sequences: CSI (ESC [ or the 8-bit 0x9b, parameters, intermediates, final byte),
# OSC/DCS/PM/APC/SOS strings (ended by BEL or ESC \\, or unterminated to the line end), and
# two-character escapes (ESC and one byte in 0x40-0x5f, or charset selection ESC ( B).
_ESCAPES = re.compile(
    r"(?:\x1b\[|\x9b)[0-?]*[ -/]*[@-~]?"
    r"|(?:\x1b[\]PX^_]|[\x90\x98\x9d\x9e\x9f])[^\x07\x1b\n]*(?:\x07|\x1b\\)?"
    r"|\x1b[()*+][0-9A-Za-z]?|\x1b[ -/]*[0-~]?")
# Chinese punctuation NFKC would make ASCII; kept as written.
_KEEP = "\uff0c\uff1a\uff1b\uff01\uff1f\uff08\uff09\uff5e\u2026"
_KEPT = re.compile(f"[{_KEEP}]+")
_IDEO = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0003ffff"
# between two CJK characters, or closing a CJK sentence at the end of a line
_WIDEN = re.compile(f"(?<=[{_IDEO}]) ?([,:;!?()]) ?(?=[{_IDEO}])|(?<=[{_IDEO}])([,:;!?])(?= *$)",
                    re.M)
_FULL = {c: chr(ord(c) + 0xFEE0) for c in ",:;!?()"}
# a pair with one side widened gets the other side widened too: 中(国) -> 中（国）
_HALF_CLOSE = re.compile("\uff08([^()\uff08\uff09\n]*)\\)")
_HALF_OPEN = re.compile("\\(([^()\uff08\uff09\n]*)\uff09")
_BLANKS = re.compile(r"\n{3,}")


@lru_cache(maxsize=1)
def _opencc() -> Any:
    try:
        from opencc import OpenCC
    except ImportError:
        raise ImportError(
            "traditional-to-simplified conversion needs OpenCC: pip install zili[data] "
            "(or pip install opencc-python-reimplemented)"
        ) from None
    return OpenCC("t2s")


def to_simplified(text: str) -> str:
    """Convert traditional Chinese characters to simplified ones with OpenCC (t2s).

    Raises:
        ImportError: the OpenCC package is not installed.
    """
    return _opencc().convert(text)


def strip_escapes(text: str) -> str:
    """``text`` without terminal escape sequences (colours, cursor moves, window titles)."""
    return _ESCAPES.sub("", text) if ("\x1b" in text or _C1.search(text)) else text


_C1 = re.compile("[\x90\x98\x9b\x9d-\x9f]")


def nfkc_keep_chinese_punctuation(text: str) -> str:
    """NFKC, except that the full-width Chinese punctuation NFKC would make ASCII stays."""
    out, at = [], 0
    for m in _KEPT.finditer(text):
        out.append(unicodedata.normalize("NFKC", text[at:m.start()]))
        out.append(m.group())
        at = m.end()
    out.append(unicodedata.normalize("NFKC", text[at:]))
    return "".join(out)


def widen_cjk_punctuation(text: str) -> str:
    """ASCII ``, : ; ! ? ( )`` between two CJK characters (a space either side allowed),
    and ``, : ; ! ?`` after a CJK character at the end of a line, become full-width, as
    Chinese writes them; so does the other half of a bracket pair one of whose halves did."""
    if not _WIDEN.search(text):
        return text
    text = _WIDEN.sub(lambda m: _FULL[m.group(1) or m.group(2)], text)
    text = _HALF_CLOSE.sub("\uff08\\1\uff09", text)
    return _HALF_OPEN.sub("\uff08\\1\uff09", text)


def normalize(text: str, t2s: bool = False) -> str:
    """Return ``text`` normalised as the module docstring describes."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    text = strip_escapes(text)
    text = nfkc_keep_chinese_punctuation(text)
    text = text.translate(_DROP_TABLE)
    text = _SPACES.sub(" ", text)
    text = "\n".join(line.strip() for line in text.split("\n"))
    text = _BLANKS.sub("\n\n", text).strip()
    if t2s:
        text = to_simplified(text)
    return widen_cjk_punctuation(text)


def normalize_config(text: str, cfg: dict[str, Any]) -> str:
    """Normalise with the options of a pipeline config (see zili.text.config)."""
    return normalize(text, t2s=cfg["normalize"]["t2s"])
