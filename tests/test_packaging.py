"""The package list, the wheel and the sdist, checked by building them.

The builds run offline, on a copy of the tree, with the setuptools already installed
(``pip wheel --no-deps --no-build-isolation`` and the PEP 517 ``build_sdist`` hook).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tarfile
import tomllib
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
#: Where each installed name's modules live in the repository.
SOURCES = {
    "telephony": ROOT / "telephony",
    "telephony.providers": ROOT / "providers",
    "telephony.adapters": ROOT / "adapters",
}
#: The links inside telephony/ that stand for the other two folders in a checkout.
LINKS = ("providers", "adapters")
#: Everything an sdist holds at its top: the build inputs and the metadata setuptools writes.
SDIST_TOP = {
    "PKG-INFO",
    "setup.cfg",
    "pyproject.toml",
    "README.md",
    "MANIFEST.in",
    "telephony.egg-info",
    "telephony",
    "providers",
    "adapters",
}
NOT_SOURCE = shutil.ignore_patterns(
    ".venv", ".git", "build", "dist", "*.egg-info", "__pycache__", ".*_cache", ".hypothesis", ".telephony"
)


def _setuptools_config() -> dict[str, object]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    assert isinstance(config, dict)
    return config


def _package_dirs() -> dict[str, Path]:
    """Every package folder in the tree (it has an ``__init__.py``), by its installed name."""
    found: dict[str, Path] = {}
    for name, top in SOURCES.items():
        for init in top.rglob("__init__.py"):
            parts = init.parent.relative_to(top).parts
            if name == "telephony" and parts and parts[0] in LINKS:
                continue
            found[".".join((name, *parts))] = init.parent
    return found


def _wheel_modules() -> set[str]:
    """The path in the wheel of every module in the tree."""
    return {
        f"{name.replace('.', '/')}/{module.name}"
        for name, folder in _package_dirs().items()
        for module in folder.glob("*.py")
    }


def _copy_tree(dest: Path) -> Path:
    shutil.copytree(ROOT, dest, symlinks=True, ignore=NOT_SOURCE)
    return dest


def _pip_wheel(source: Path, out: Path) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "pip", "wheel", str(source), "--no-deps", "--no-build-isolation"]
    return subprocess.run([*command, "-q", "-w", str(out)], capture_output=True, text=True)


def _build_wheel(source: Path, out: Path) -> dict[str, bytes]:
    built = _pip_wheel(source, out)
    assert built.returncode == 0, built.stderr
    (wheel,) = out.glob("telephony-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def _build_sdist(source: Path, out: Path) -> Path:
    # The hook `python -m build --sdist --no-isolation` calls, without needing that package.
    hook = "import sys, setuptools.build_meta as backend; print(backend.build_sdist(sys.argv[1]))"
    subprocess.run([sys.executable, "-c", hook, str(out)], cwd=source, check=True, capture_output=True)
    (sdist,) = out.glob("telephony-*.tar.gz")
    return sdist


@pytest.fixture(scope="module")
def tree_wheel(tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    """The wheel built from the tree as it is, by file name."""
    work = tmp_path_factory.mktemp("tree")
    return _build_wheel(_copy_tree(work / "src"), work / "wheel")


@pytest.fixture(scope="module")
def sdist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    work = tmp_path_factory.mktemp("sdist")
    return _build_sdist(_copy_tree(work / "src"), work / "dist")


def test_the_package_list_names_every_package_folder_and_nothing_else() -> None:
    config = _setuptools_config()
    listed = config["packages"]
    assert isinstance(listed, list)
    in_tree = set(_package_dirs())
    assert not in_tree - set(listed), f"add to [tool.setuptools] packages: {sorted(in_tree - set(listed))}"
    assert not set(listed) - in_tree, f"listed but not in the tree: {sorted(set(listed) - in_tree)}"
    assert len(listed) == len(set(listed))
    # The build reads the two folders themselves, never through the links in telephony/.
    assert config["package-dir"] == {"telephony.providers": "providers", "telephony.adapters": "adapters"}


def test_every_folder_of_modules_is_a_package() -> None:
    # A folder of modules without __init__.py is not a package the list can name: it would be
    # left out of the wheel without a word.
    folders = {
        module.parent
        for top in SOURCES.values()
        for module in top.rglob("*.py")
        if "__pycache__" not in module.parts
    }
    bare = sorted(f.relative_to(ROOT).as_posix() for f in folders if not (f / "__init__.py").is_file())
    assert not bare, f"add an __init__.py to {bare}"


def test_the_wheel_holds_one_import_package_with_every_module_and_its_type_marker(
    tree_wheel: dict[str, bytes],
) -> None:
    names = set(tree_wheel)
    tops = {n.split("/")[0] for n in names if not n.split("/")[0].endswith(".dist-info")}
    assert tops == {"telephony"}
    assert "telephony/py.typed" in names
    assert {n for n in names if n.endswith(".py")} == _wheel_modules()
    assert "telephony/providers/_contracts.py" in names
    assert "telephony/adapters/twilio/__init__.py" in names
    entry_points = next(n for n in names if n.endswith(".dist-info/entry_points.txt"))
    assert "twilio = telephony.adapters.twilio:create_carrier" in tree_wheel[entry_points].decode()


def test_a_checkout_whose_links_are_plain_files_builds_the_same_wheel(
    tmp_path: Path, tree_wheel: dict[str, bytes]
) -> None:
    # Git without symlinks (Windows by default) checks a link out as a file holding its target.
    source = _copy_tree(tmp_path / "src")
    for link in LINKS:
        (source / "telephony" / link).unlink()
        (source / "telephony" / link).write_text(f"../{link}")
    assert _build_wheel(source, tmp_path / "wheel") == tree_wheel


def test_a_listed_package_without_its_folder_stops_the_build(tmp_path: Path) -> None:
    source = _copy_tree(tmp_path / "src")
    shutil.rmtree(source / "adapters" / "plivo")
    built = _pip_wheel(source, tmp_path / "wheel")
    assert built.returncode != 0
    assert "package directory 'adapters/plivo' does not exist" in built.stderr
    assert not list((tmp_path / "wheel").glob("*.whl"))


def test_the_sdist_carries_the_package_source_and_no_tests(sdist: Path) -> None:
    with tarfile.open(sdist) as archive:
        members = [m.name.split("/", 1)[1] for m in archive.getmembers() if "/" in m.name]
    assert {m.split("/")[0] for m in members} == SDIST_TOP
    modules = {m for m in members if m.endswith(".py")}
    # Each module once, at its place in the repository (no copies through the links).
    expected = {
        module.relative_to(ROOT).as_posix()
        for folder in _package_dirs().values()
        for module in folder.glob("*.py")
    }
    assert modules == expected
    assert not [m for m in members if "tests" in m.split("/") or m.endswith(".pyc")]


def test_the_sdist_builds_the_same_wheel_as_the_tree(
    tmp_path: Path, sdist: Path, tree_wheel: dict[str, bytes]
) -> None:
    with tarfile.open(sdist) as archive:
        archive.extractall(tmp_path / "unpacked", filter="data")
    (source,) = (tmp_path / "unpacked").iterdir()
    assert _build_wheel(source, tmp_path / "wheel") == tree_wheel
