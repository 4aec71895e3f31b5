"""The dependency rule from the design, checked.

Installed, everything lives under ``telephony``: ``telephony.providers`` (contracts) stands alone,
each ``telephony.adapters.<name>`` imports the contracts and itself only, and the core reaches
adapters only through the entry-point registry.
"""

from __future__ import annotations

import ast
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CORE = "telephony"
CONTRACTS = "telephony.providers"
ADAPTERS = "telephony.adapters"


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def _under(name: str, package: str) -> bool:
    return name == package or name.startswith(f"{package}.")


def _core_files() -> list[Path]:
    # The links telephony/providers and telephony/adapters are the other two layers, not the core.
    return [
        p
        for p in (ROOT / CORE).rglob("*.py")
        if p.relative_to(ROOT / CORE).parts[0] not in ("providers", "adapters")
    ]


def test_nothing_imports_the_repository_folders_as_top_level_packages() -> None:
    files = [*(ROOT / "providers").rglob("*.py"), *(ROOT / "adapters").rglob("*.py"), *_core_files()]
    for path in files:
        bad = {n for n in _imports(path) if n.split(".")[0] in ("providers", "adapters")}
        assert not bad, (
            f"{path.relative_to(ROOT)} imports {bad}; use telephony.providers / telephony.adapters"
        )


def test_providers_imports_neither_core_nor_adapters() -> None:
    for path in (ROOT / "providers").rglob("*.py"):
        bad = {n for n in _imports(path) if _under(n, CORE) and not _under(n, CONTRACTS)}
        assert not bad, f"{path.relative_to(ROOT)} imports {bad}"


def test_adapters_import_only_providers_and_themselves() -> None:
    for package in (p for p in (ROOT / "adapters").iterdir() if p.is_dir() and (p / "__init__.py").exists()):
        own = f"{ADAPTERS}.{package.name}"
        for path in package.rglob("*.py"):
            for name in _imports(path):
                if _under(name, CORE):
                    assert _under(name, CONTRACTS) or _under(name, own), (
                        f"{path.relative_to(ROOT)} imports {name}"
                    )


def test_core_reaches_adapters_only_through_the_registry() -> None:
    for path in _core_files():
        bad = {n for n in _imports(path) if _under(n, ADAPTERS)}
        assert not bad, f"{path.relative_to(ROOT)} imports {bad}"


def test_importing_the_package_or_the_contracts_stays_light() -> None:
    code = (
        "import sys, telephony, telephony.providers\n"
        "heavy = {'numpy', 'soxr', 'litestar', 'twilio', 'openai', 'pocketsphinx', 'telephony.server'}\n"
        "loaded = heavy & set(sys.modules)\n"
        "assert not loaded, loaded\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_the_wheel_holds_one_import_package_with_its_type_marker(tmp_path: Path) -> None:
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            str(ROOT),
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(tmp_path),
        ],
        check=True,
        capture_output=True,
    )
    (wheel,) = tmp_path.glob("telephony-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    tops = {n.split("/")[0] for n in names if not n.split("/")[0].endswith(".dist-info")}
    assert tops == {"telephony"}
    assert "telephony/py.typed" in names
    assert "telephony/providers/_contracts.py" in names
    assert "telephony/adapters/twilio/__init__.py" in names
    entry_points = next(n for n in names if n.endswith(".dist-info/entry_points.txt"))
    text = zipfile.ZipFile(wheel).read(entry_points).decode()
    assert "twilio = telephony.adapters.twilio:create_carrier" in text
