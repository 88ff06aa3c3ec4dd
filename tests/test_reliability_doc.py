"""docs/reliability.md names the test that checks each promise: every named test exists."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_every_test_named_in_reliability_md_exists() -> None:
    text = (ROOT / "docs" / "reliability.md").read_text(encoding="utf-8")
    named = 0
    for row in text.splitlines():
        current = None
        for token in re.findall(r"`([^`]+)`", row):
            path, sep, name = token.partition("::")
            if path.startswith("tests/") and path.endswith(".py"):
                current = ROOT / path
                assert current.is_file(), f"docs/reliability.md names missing {path}"
            elif not (path == "" and sep):
                continue
            if name:
                assert current is not None, f"{token} follows no test file"
                source = current.read_text(encoding="utf-8")
                assert re.search(rf"^def {re.escape(name)}\(", source, re.M), \
                    f"docs/reliability.md names {current.name}::{name}, which does not exist"
                named += 1
    assert named >= 20
