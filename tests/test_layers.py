"""Imports run one way: a module never imports from a layer above its own.

The layers are DESIGN.md's, bottom to top. Every ``import``/``from ... import`` of a zili
module anywhere in a file counts (inside functions too: a lazy import is still a
dependency), and so does a module named as a string to ``importlib.import_module`` or
``sys.modules``. ``zili/__init__.py`` is the package's front door and may name any layer.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent / "zili"

# Bottom to top; names on one line share a layer.
LAYERS = [
    {"dtype", "files", "graph", "safejson", "errors"},
    {"ops"},
    {"compiler"},
    {"devices"},
    {"tensor", "cuda"},  # zili.cuda: torch.cuda's surface over the cuda device
    {"jit"},
    {"io", "distributed"},  # tensors in and out of the process: files, DLPack, other ranks
    {"data", "text"},
    {"nn", "optim", "amp"},
    {"models"},
    {"train"},
    {"cli"},
]
RANK = {name: rank for rank, names in enumerate(LAYERS) for name in names}


def layer_of(module: str) -> str:
    """The layer (first package component under zili) of a dotted module name."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def imported_modules(path: Path) -> list[tuple[int, str]]:
    """(line, zili module) for every import of a zili module in ``path``."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [(node.lineno, a.name) for a in node.names if a.name.startswith("zili.")]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module and \
                node.module.startswith("zili"):
            if node.module == "zili":
                out += [(node.lineno, f"zili.{a.name}") for a in node.names]
            else:
                out.append((node.lineno, node.module))
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and \
                node.value.startswith("zili.") and " " not in node.value:
            out.append((node.lineno, node.value))
    return out


MODULES = sorted(p for p in ROOT.rglob("*.py") if p != ROOT / "__init__.py")


def test_every_folder_is_a_known_layer() -> None:
    names = {p.relative_to(ROOT).parts[0].removesuffix(".py") for p in MODULES}
    assert names <= set(RANK), f"add these to LAYERS (DESIGN.md's order): {names - set(RANK)}"


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(ROOT)))
def test_imports_run_downward(path: Path) -> None:
    own = path.relative_to(ROOT).parts[0].removesuffix(".py")
    upward = []
    for line, module in imported_modules(path):
        target = layer_of(module)
        if target in RANK and RANK[target] > RANK[own]:
            upward.append(f"line {line}: {module} ({target} is above {own})")
    assert not upward, f"{path.relative_to(ROOT.parent)} imports upward: {upward}"


def test_the_checker_sees_an_upward_import(tmp_path: Path) -> None:
    # The property the suite relies on: a lazy import and a sys.modules lookup both count.
    sample = tmp_path / "sample.py"
    sample.write_text("import sys\n\ndef f():\n    from zili.nn import Linear\n"
                      "    return sys.modules.get('zili.models.gpt')\n")
    found = [m for _, m in imported_modules(sample)]
    assert found == ["zili.nn", "zili.models.gpt"]
