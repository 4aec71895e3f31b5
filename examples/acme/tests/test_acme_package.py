"""The package as an outside author ships it: registered, typed, and using only the contracts."""

from __future__ import annotations

import ast
import subprocess
import sys
import zipfile
from importlib.metadata import distribution
from pathlib import Path

from telephony.providers import CARRIERS, available, load, settings_schema

import telephony_acme

PACKAGE = Path(telephony_acme.__file__).parent
PROJECT = Path(__file__).resolve().parents[1]


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def test_it_imports_nothing_of_telephony_but_the_contracts() -> None:
    files = sorted(PACKAGE.rglob("*.py"))
    assert len(files) > 1
    for path in files:
        framework = {name for name in _imports(path) if name.split(".")[0] == "telephony"}
        assert framework <= {"telephony.providers"}, f"{path.name} imports {framework}"


def test_it_is_registered_in_the_carriers_group() -> None:
    assert "acme" in available(CARRIERS)
    assert load(CARRIERS, "acme") is telephony_acme.create_carrier
    schema = settings_schema(CARRIERS, "acme")
    assert schema is telephony_acme.ACME_SETTINGS and schema.required() == ("apiKey",)
    (entry,) = [ep for ep in distribution("telephony-acme").entry_points if ep.group == CARRIERS]
    assert entry.value == "telephony_acme:create_carrier"


def test_it_ships_its_type_information() -> None:
    assert (PACKAGE / "py.typed").is_file()


def test_its_wheel_holds_the_package_alone_with_its_marker_and_entry_point(tmp_path: Path) -> None:
    command = [sys.executable, "-m", "pip", "wheel", str(PROJECT), "--no-deps", "--no-build-isolation"]
    subprocess.run([*command, "-q", "-w", str(tmp_path)], check=True, capture_output=True)
    (wheel,) = tmp_path.glob("telephony_acme-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert {name.split("/")[0] for name in names if ".dist-info/" not in name} == {"telephony_acme"}
    assert "telephony_acme/py.typed" in names and "telephony_acme/_webhooks.py" in names
    entry_points = next(name for name in names if name.endswith(".dist-info/entry_points.txt"))
    text = zipfile.ZipFile(wheel).read(entry_points).decode()
    assert "[telephony.carriers]\nacme = telephony_acme:create_carrier" in text
