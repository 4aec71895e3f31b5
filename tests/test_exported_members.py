"""``telephony.__all__`` is the public API, and it stays true.

Every declared name imports from ``telephony`` and is the object its home module declares; the
package offers no public name beyond ``__all__``; the lazy table, the names mypy sees and
``__all__`` agree; and every module of the core says what it offers with an ``__all__`` of its own.
"""

from __future__ import annotations
import __future__

import ast
import importlib
import subprocess
import sys
import types
from pathlib import Path

import pytest

import telephony

ROOT = Path(__file__).resolve().parents[1]
CORE = ROOT / "telephony"
PUBLIC_SUBPACKAGES = ("telephony.providers", "telephony.config", "telephony.store")
NOT_LAZY = {"__version__"}  # defined in the package itself


def _homes() -> dict[str, str]:
    homes: dict[str, str] = telephony._HOMES
    return {name: f"telephony{home}" for name, home in homes.items()}


def _type_checking_imports() -> dict[str, str]:
    """The names ``telephony/__init__.py`` imports for the type checker, and where from."""
    tree = ast.parse((CORE / "__init__.py").read_text())
    guard = next(
        node for node in tree.body if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)
    )
    return {
        alias.asname or alias.name: f"telephony.{node.module}"
        for node in guard.body
        if isinstance(node, ast.ImportFrom) and node.level == 1 and node.module
        for alias in node.names
    }


def _public_names(module: types.ModuleType) -> set[str]:
    """What ``dir(module)`` offers besides private names, submodules and ``__future__`` flags."""
    return {
        name
        for name in dir(module)
        if not name.startswith("_")
        and not isinstance(getattr(module, name), types.ModuleType | __future__._Feature)
    }


def test_every_declared_name_imports_from_the_package() -> None:
    namespace: dict[str, object] = {}
    exec("from telephony import *", namespace)
    missing = [name for name in telephony.__all__ if name not in namespace]
    assert not missing, missing
    for name in telephony.__all__:
        assert getattr(telephony, name) is namespace[name]


def test_each_name_is_the_one_its_home_declares() -> None:
    for name, home in _homes().items():
        module = importlib.import_module(home)
        assert name in module.__all__, f"{home} does not declare {name}"
        value = getattr(telephony, name)
        assert value is getattr(module, name), f"telephony.{name} is not {home}.{name}"
        defined_in = value.__module__
        if home in PUBLIC_SUBPACKAGES:
            # Re-exported on purpose: a public subpackage declares what its private modules hold.
            assert defined_in == home or defined_in.startswith(f"{home}."), (
                f"{name} is defined in {defined_in}"
            )
        else:
            # A package (a room of the core) declares what its private modules hold.
            assert defined_in == home or defined_in.startswith(f"{home}._"), (
                f"{name} is said to live in {home} but is defined in {defined_in}"
            )


def test_all_is_exactly_what_the_package_offers() -> None:
    for name in telephony.__all__:
        getattr(telephony, name)  # load every lazy name, so each counts as offered
    assert _public_names(telephony) | NOT_LAZY == set(telephony.__all__)
    assert len(telephony.__all__) == len(set(telephony.__all__))


def test_the_lazy_table_and_the_type_checkers_imports_agree() -> None:
    assert set(_homes()) == set(telephony.__all__) - NOT_LAZY
    assert _type_checking_imports() == _homes()


def test_an_undeclared_name_is_not_offered() -> None:
    for name in ("server", "ControlClient", "hide_secrets"):
        try:
            value = getattr(telephony, name)
        except AttributeError:
            continue
        assert isinstance(value, types.ModuleType), f"telephony.{name} is offered but not declared"


def test_each_name_loads_only_its_own_module() -> None:
    # The names stay lazy: asking for the log filter loads no server (nor numpy or Litestar).
    code = (
        "import sys, telephony\n"
        "telephony.CallContextFilter, telephony.CallState, telephony.ConfigError\n"
        "heavy = {'numpy', 'litestar', 'telephony.server', 'telephony.engine'}\n"
        "loaded = heavy & set(sys.modules)\n"
        "assert not loaded, loaded\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_the_import_paths_the_docs_gave_before_still_work() -> None:
    # The old paths give the very objects the package declares; a moved module's old path warns.
    from telephony.server import server_limits, telephony_router

    sys.modules.pop("telephony.logs", None)
    with pytest.warns(DeprecationWarning, match="telephony.logs is deprecated"):
        from telephony.logs import CallContextFilter, JsonFormatter

    assert telephony.CallContextFilter is CallContextFilter
    assert telephony.JsonFormatter is JsonFormatter
    assert telephony.server_limits is server_limits
    assert telephony.telephony_router is telephony_router


def test_every_public_subpackage_offers_what_it_declares() -> None:
    for package in PUBLIC_SUBPACKAGES:
        module = importlib.import_module(package)
        missing = [name for name in module.__all__ if not hasattr(module, name)]
        assert not missing, f"{package} declares {missing} but has no such names"


def _core_modules() -> list[Path]:
    # The links telephony/providers and telephony/adapters are the other two layers.
    return [p for p in CORE.rglob("*.py") if p.relative_to(CORE).parts[0] not in ("providers", "adapters")]


def _declared(path: Path) -> list[str] | None:
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.Assign) and any(
            isinstance(target, ast.Name) and target.id == "__all__" for target in node.targets
        ):
            names: list[str] = ast.literal_eval(node.value)
            return names
    return None


def test_every_core_module_declares_what_it_offers() -> None:
    undeclared = [str(path.relative_to(ROOT)) for path in _core_modules() if _declared(path) is None]
    assert not undeclared, f"modules without __all__: {undeclared}"
    for path in _core_modules():
        name = ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
        if name == "telephony":
            continue  # lazy: checked above
        module = importlib.import_module(name)
        unbound = [n for n in _declared(path) or [] if not hasattr(module, n)]
        assert not unbound, f"{name}.__all__ names {unbound}, which it does not have"
