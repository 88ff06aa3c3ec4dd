"""The architecture page lists exactly the primitives in zili.ops.PRIMITIVES."""

import re
from pathlib import Path

from zili.ops import PRIMITIVES

DOC = Path(__file__).resolve().parent.parent / "docs" / "architecture.md"


def test_primitive_table_matches_ops():
    text = DOC.read_text(encoding="utf-8")
    table = text.split("## The primitive op table", 1)[1].split("\n## ", 1)[0]
    listed = re.findall(r"^\| `([a-z_0-9]+)` \|", table, flags=re.M)
    assert sorted(listed) == sorted(op.value for op in PRIMITIVES)
    assert len(listed) == len(set(listed))


def test_line_counts_are_current():
    text = DOC.read_text(encoding="utf-8")
    root = DOC.parent.parent
    claims = re.findall(r"`(zili/[\w/]+\.py)` (\d+)", text)
    assert len(claims) >= 5
    for path, count in claims:
        lines = len((root / path).read_text(encoding="utf-8").splitlines())
        assert lines == int(count), f"docs/architecture.md says {path} has {count} lines, " \
                                    f"it has {lines}"
