"""Only the command line parses arguments: no module outside ``zili/cli`` imports argparse or
reads ``sys.argv`` (the library layers take parameters, issue 13). The one exception is a
module's own ``if __name__ == "__main__":`` block: that is the entry point of a helper
process zili starts itself (the rank watcher of ``zili.distributed``), not library code."""

from __future__ import annotations

import ast
from pathlib import Path

ZILI = Path(__file__).resolve().parent.parent / "zili"


def _is_main_guard(node: ast.stmt) -> bool:
    """``if __name__ == "__main__":`` at module level."""
    return isinstance(node, ast.If) and isinstance(node.test, ast.Compare) and \
        isinstance(node.test.left, ast.Name) and node.test.left.id == "__name__" and \
        any(isinstance(c, ast.Constant) and c.value == "__main__" for c in node.test.comparators)


def _offences(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    entry_points = {id(inner) for node in tree.body if _is_main_guard(node)
                    for inner in ast.walk(node)}
    found = []
    for node in ast.walk(tree):
        if id(node) in entry_points:
            continue
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
    bad.write_text("import sys\nfrom argparse import ArgumentParser\nprint(sys.argv)\n"
                   "def f():\n    return sys.argv\n"
                   "if __name__ == '__main__':\n    print(sys.argv)\n")
    assert len(_offences(bad)) == 3  # the entry point's read is allowed, the others are not
