"""Personal data scrubbing: replace personal identifiers with typed placeholders.

Kinds, applied in this order so that a longer identifier is never half-taken by a
shorter pattern: e-mail addresses, IP addresses (v4 and v6, validated by the standard
``ipaddress`` module), resident identity card numbers (18 characters whose check digit
is valid under GB 11643-1999), bank card numbers (13-19 digits, plain or in groups of
four, passing the Luhn check) and mainland mobile numbers (``1[3-9]`` + 9 digits,
optionally after +86). A digit string that fails its check is left as it is: it is not
the identifier it resembles.
"""

from __future__ import annotations

import ipaddress
import re
from collections import Counter
from typing import Any

KINDS = ("email", "ip", "id_card", "bank_card", "phone")

_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK = "10X98765432"

_EMAIL_RE = re.compile(
    r"(?<![A-Za-z0-9._%+-])[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}"
    r"(?![A-Za-z0-9-])"
)
_IPV4_RE = re.compile(r"(?<![\d.])(?:\d{1,3}\.){3}\d{1,3}(?![\d.]|\.\d)")
_IPV6_RE = re.compile(r"(?<![0-9A-Fa-f:])[0-9A-Fa-f]{0,4}(?::[0-9A-Fa-f]{0,4}){2,7}"
                      r"(?![0-9A-Fa-f:])")
_ID_RE = re.compile(r"(?<![0-9A-Za-z])\d{17}[0-9Xx](?![0-9A-Za-z])")
_BANK_RE = re.compile(r"(?<![0-9A-Za-z])(?:\d{13,19}|\d{4}(?:[ -]\d{4}){2,3}(?:[ -]\d{1,3})?)"
                      r"(?![0-9A-Za-z])")
_PHONE_RE = re.compile(r"(?<![0-9A-Za-z+])(?:(?:\+|00)?86[ -]?)?1[3-9]\d{9}(?![0-9A-Za-z])")


def id_card_valid(number: str) -> bool:
    """True if ``number`` is 17 digits plus a valid GB 11643 check character (0-9 or X)."""
    if len(number) != 18 or not number[:17].isdigit():
        return False
    total = sum(int(d) * w for d, w in zip(number[:17], _ID_WEIGHTS, strict=True))
    return _ID_CHECK[total % 11] == number[17].upper()


def luhn_valid(number: str) -> bool:
    """True if the digit string ``number`` passes the Luhn (mod 10) check."""
    if not number.isdigit():
        return False
    total = 0
    for i, ch in enumerate(reversed(number)):
        d = int(ch)
        if i % 2 == 1:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def _ip_ok(s: str) -> bool:
    try:
        ipaddress.ip_address(s)
    except ValueError:
        return False
    return True


class Scrubber:
    """Replaces personal data with placeholders and counts what it replaced."""

    def __init__(self, cfg: dict[str, Any] | None = None) -> None:
        """Take placeholders from the ``pii`` table of a config (defaults if None)."""
        from zili.text.config import DEFAULTS

        ph = dict(DEFAULTS["pii"]["placeholders"])
        if cfg is not None:
            ph.update(cfg["pii"]["placeholders"])
        self.placeholders = ph

    def strip_placeholders(self, text: str) -> str:
        """``text`` without its placeholders, for statistics that should not count them."""
        for ph in self.placeholders.values():
            text = text.replace(ph, "")
        return text

    def scrub(self, text: str) -> tuple[str, Counter[str]]:
        """Return (text with identifiers replaced, count of replacements per kind)."""
        counts: Counter[str] = Counter()
        ph = self.placeholders

        def sub(kind: str, pattern: re.Pattern[str], valid: Any, s: str) -> str:
            def repl(m: re.Match[str]) -> str:
                if valid is not None and not valid(m.group(0)):
                    return m.group(0)
                counts[kind] += 1
                return ph[kind]
            return pattern.sub(repl, s)

        if "@" in text:
            text = sub("email", _EMAIL_RE, None, text)
        if "." in text:
            text = sub("ip", _IPV4_RE, _ip_ok, text)
        if "::" in text or text.count(":") >= 2:
            # an IPv6 address needs a hex digit; "::" alone or clock times fail _ip_ok
            text = sub("ip", _IPV6_RE,
                       lambda s: any(c.isalnum() for c in s) and _ip_ok(s), text)
        text = sub("id_card", _ID_RE, id_card_valid, text)
        text = sub("bank_card", _BANK_RE,
                   lambda s: luhn_valid(s.replace(" ", "").replace("-", "")), text)
        text = sub("phone", _PHONE_RE, None, text)
        return text, counts
