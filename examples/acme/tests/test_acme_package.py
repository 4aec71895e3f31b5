"""The package as an outside author ships it: registered, typed, and using only the contracts."""

from __future__ import annotations

import ast
from importlib.metadata import distribution
from pathlib import Path

from telephony.providers import CARRIERS, available, load, settings_schema

import telephony_acme

PACKAGE = Path(telephony_acme.__file__).parent


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
