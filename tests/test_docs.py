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


def test_a_device_and_its_renderer_stay_small():
    # The point of the device contract: a compiled device plus its dialect in <= 300 lines.
    root = DOC.parent.parent
    for device, renderer in (("cpu", "render_c"), ("opencl", "render_opencl")):
        lines = sum(len((root / path).read_text(encoding="utf-8").splitlines()) for path in
                    (f"zili/devices/{device}.py", f"zili/compiler/{renderer}.py"))
        assert lines <= 300, f"the {device} device and its renderer have {lines} lines"
        assert f"(together\n{lines})" in DOC.read_text(encoding="utf-8").replace(
            "(together ", "(together\n"), f"docs/architecture.md: update {device}'s total"
