"""Only the command line parses arguments: no module outside ``zili/cli`` imports argparse or
reads ``sys.argv`` (the library layers take parameters, issue 13)."""

from __future__ import annotations

import ast
from pathlib import Path

ZILI = Path(__file__).resolve().parent.parent / "zili"


def _offences(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import) and any(a.name == "argparse" for a in node.names):
            found.append(f"{path}:{node.lineno} imports argparse")
        elif isinstance(node, ast.ImportFrom) and node.module == "argparse":
            found.append(f"{path}:{node.lineno} imports from argparse")
        elif isinstance(node, ast.Attribute) and node.attr == "argv" and \
                isinstance(node.value, ast.Name) and node.value.id == "sys":
            found.append(f"{path}:{node.lineno} reads sys.argv")
    return found


def test_only_zili_cli_parses_arguments() -> None:
    files = [p for p in ZILI.rglob("*.py") if "cli" not in p.relative_to(ZILI).parts[:1]]
    assert len(files) > 50  # the scan sees the library
    offences = [o for p in files for o in _offences(p)]
    assert not offences, offences


def test_the_scan_catches_an_offence(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text("import sys\nfrom argparse import ArgumentParser\nprint(sys.argv)\n")
    assert len(_offences(bad)) == 2
