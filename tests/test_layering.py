"""The dependency rule from the design, checked.

Installed, everything lives under ``telephony``: ``telephony.providers`` (contracts) stands alone,
each ``telephony.adapters.<name>`` imports the contracts and itself only, and the core reaches
adapters only through the entry-point registry.
"""

from __future__ import annotations

import ast
import subprocess
import sys
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


#: Carriers an adapter exists or is planned for; the core must not know any of them by name.
CARRIER_NAMES = ("twilio", "telnyx", "plivo", "vonage", "signalwire", "bandwidth", "exotel")


def _code_words(path: Path) -> list[tuple[int, str]]:
    """Identifiers and string literals of a module, without comments and documentation."""
    tree = ast.parse(path.read_text(), str(path))
    # Docstrings, and the attribute docs that follow an assignment, are bare string statements.
    docstrings = {
        id(node.value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant)
    }
    words: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings:
            words.append((node.lineno, node.value))
        elif isinstance(node, ast.Name):
            words.append((node.lineno, node.id))
        elif isinstance(node, ast.Attribute):
            words.append((node.lineno, node.attr))
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef | ast.alias):
            words.append((node.lineno, node.name))
    return words


def test_the_core_names_no_carrier() -> None:
    # Each adapter owns its settings and environment variables: a carrier name in core code
    # (not in its docs) means carrier knowledge leaked into the core.
    found = [
        f"{path.relative_to(ROOT)}:{line}: {word!r}"
        for path in _core_files()
        for line, word in _code_words(path)
        if any(name in word.lower() for name in CARRIER_NAMES)
    ]
    assert not found, "\n".join(found)


def test_the_carrier_name_check_would_see_a_leak(tmp_path: Path) -> None:
    module = tmp_path / "leak.py"
    module.write_text(
        '"""Docs may say twilio."""\n# so may comments: plivo\n'
        'SECTION = "telnyx"\n"""Attribute docs may say plivo."""\n\n'
        'def f():\n    """Twilio here is fine."""\n    return config.twilio\n'
    )
    words = [word for _, word in _code_words(module) if any(n in word.lower() for n in CARRIER_NAMES)]
    assert sorted(words) == ["telnyx", "twilio"]


def test_every_core_module_imports_on_its_own() -> None:
    # Import cycles only show when a module is the first one imported, as an embedder may do.
    modules = sorted(
        ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
        for path in _core_files()
    )
    for module in modules:
        subprocess.run([sys.executable, "-c", f"import {module}"], check=True, cwd=ROOT)


def test_no_merge_conflict_markers_were_committed() -> None:
    tracked = subprocess.run(
        ["git", "ls-files", "*.py", "*.md", "*.toml", "*.cfg", "Makefile"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    markers = ("<" * 7 + " ", ">" * 7 + " ")
    bad = [
        f"{name}:{number}"
        for name in tracked
        for number, line in enumerate((ROOT / name).read_text(errors="replace").splitlines(), 1)
        if line.startswith(markers)
    ]
    assert not bad, bad


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _core_imports(path: Path, module: str) -> set[str]:
    """The core modules ``path`` imports, deferred and type-only imports included."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                target = f"{base}.{node.module}" if node.module else base
            else:
                target = node.module or ""
            found.add(target)
            found.update(f"{target}.{alias.name}" for alias in node.names)
    return {
        name
        for name in found
        if _under(name, CORE) and not _under(name, CONTRACTS) and not _under(name, ADAPTERS)
    }


def _core_graph() -> dict[str, set[str]]:
    modules = {_module_name(path): path for path in _core_files()}
    graph: dict[str, set[str]] = {}
    for module, path in modules.items():
        package = module if path.name == "__init__.py" else module.rpartition(".")[0]
        # A package's own __init__ is not an edge of its modules: importing a submodule runs it.
        graph[module] = {
            name for name in _core_imports(path, module) if name in modules and name not in (module, package)
        }
    return graph


def _circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected groups of more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for successor in sorted(graph[node]):
            if successor not in index:
                visit(successor)
                low[node] = min(low[node], low[successor])
            elif successor in on_stack:
                low[node] = min(low[node], index[successor])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return sorted(groups)


# The engine and the parts that still take the whole engine; the engine split removes it.
KNOWN_CIRCLES: list[list[str]] = [
    ["telephony.engine", "telephony.held_turns", "telephony.liveness", "telephony.stream_fallback"],
]


def test_the_core_has_no_import_circle() -> None:
    assert _circles(_core_graph()) == KNOWN_CIRCLES


def test_the_circle_finder_finds_circles() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}, "e": set()}
    assert _circles(graph) == [["a", "b", "c"]]


# The core's layers, lowest first: a module imports only its own layer and those below it.
# Modules of the engine's layer are still top-level files; the engine split gives them a room.
LAYERS: list[tuple[str, ...]] = [
    (
        "telephony.states",
        "telephony.urls",
        "telephony.routes",
        "telephony.policy",
        "telephony.lines",
        "telephony.config",
    ),
    ("telephony.store", "telephony.bus", "telephony.observability"),
    (
        "telephony.plugins",
        "telephony.startup",
        "telephony.call_locks",
        "telephony.engine",
        "telephony.held_turns",
        "telephony.liveness",
        "telephony.stream_fallback",
        "telephony.drain",
    ),
    ("telephony.media",),
    ("telephony.runtime",),
    ("telephony.server",),
    ("telephony.cli",),
]
# Above every layer: the package's own lazy front door, and the deprecated old path it keeps.
ENTRANCES = ("telephony", "telephony.logs")


def _layer(module: str) -> int:
    if module in ENTRANCES:
        return len(LAYERS)
    for number, members in enumerate(LAYERS):
        if any(_under(module, member) for member in members):
            return number
    raise AssertionError(f"{module} is in no layer: add it to LAYERS in {Path(__file__).name}")


def _upward(graph: dict[str, set[str]]) -> list[str]:
    return [
        f"{module} (layer {_layer(module)}) imports {target} (layer {_layer(target)})"
        for module, targets in sorted(graph.items())
        for target in sorted(targets)
        if _layer(target) > _layer(module)
    ]


def test_every_core_module_imports_only_its_layer_and_those_below() -> None:
    upward = _upward(_core_graph())
    assert not upward, "\n".join(upward)


def test_the_layer_check_sees_an_import_upward() -> None:
    graph = {"telephony.engine": {"telephony.media._session", "telephony.store.base"}, "telephony.cli": set()}
    assert _upward(graph) == ["telephony.engine (layer 2) imports telephony.media._session (layer 3)"]
