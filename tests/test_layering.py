"""The dependency rule from the design, checked: providers stands alone; adapters never import each other."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def _top(name: str) -> str:
    return name.split(".")[0]


def test_providers_imports_neither_core_nor_adapters() -> None:
    for path in (ROOT / "providers").rglob("*.py"):
        bad = {n for n in _imports(path) if _top(n) in ("telephony", "adapters")}
        assert not bad, f"{path.relative_to(ROOT)} imports {bad}"


def test_adapters_import_only_providers_and_themselves() -> None:
    for package in (p for p in (ROOT / "adapters").iterdir() if p.is_dir() and (p / "__init__.py").exists()):
        for path in package.rglob("*.py"):
            for name in _imports(path):
                if _top(name) == "telephony":
                    raise AssertionError(f"{path.relative_to(ROOT)} imports the core ({name})")
                if _top(name) == "adapters":
                    assert name.split(".")[1:2] == [package.name], f"{path.relative_to(ROOT)} imports {name}"


def test_core_reaches_adapters_only_through_the_registry() -> None:
    for path in (ROOT / "telephony").rglob("*.py"):
        bad = {n for n in _imports(path) if _top(n) == "adapters"}
        assert not bad, f"{path.relative_to(ROOT)} imports {bad}"
