"""Normalisation: one canonical spelling of each text before it is filtered and hashed.

Steps, in order: line breaks to ``\\n``; Unicode NFKC (which, among other things, maps
full-width ASCII such as ``ＡＢＣ１２３，`` to ``ABC123,`` and the ideographic space to a
space); removal of control characters (except newline and tab) and of zero-width and
other format characters; whitespace tidied (tabs and runs of spaces become one space,
lines are stripped, more than one blank line becomes one); optionally traditional to
simplified Chinese through OpenCC.
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


def normalize(text: str, t2s: bool = False) -> str:
    """Return ``text`` normalised as the module docstring describes."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    text = unicodedata.normalize("NFKC", text)
    text = text.translate(_DROP_TABLE)
    text = _SPACES.sub(" ", text)
    text = "\n".join(line.strip() for line in text.split("\n"))
    text = _BLANKS.sub("\n\n", text).strip()
    if t2s:
        text = to_simplified(text)
    return text


def normalize_config(text: str, cfg: dict[str, Any]) -> str:
    """Normalise with the options of a pipeline config (see zili.text.config)."""
    return normalize(text, t2s=cfg["normalize"]["t2s"])
