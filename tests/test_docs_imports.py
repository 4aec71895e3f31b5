"""The docs and the example adapter use declared names only.

Every ``from telephony... import`` line and every ``telephony.<name>`` in the Python blocks of
docs/*.md and the READMEs, in the example package's code, and every ``telephony.<name>`` the
prose quotes, names a public module (the package or a public subpackage) and a name in that
module's ``__all__``. A page that points into a private module (``telephony.server``,
``telephony.logs``) fails here.
"""

from __future__ import annotations

import ast
import importlib
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from test_exported_members import PUBLIC_SUBPACKAGES

from telephony.providers import AGENTS, CARRIERS, STT, TTS

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "acme"
PAGES = sorted([ROOT / "README.md", EXAMPLE / "README.md", *(ROOT / "docs").glob("*.md")])
EXAMPLE_CODE = sorted(path for path in EXAMPLE.rglob("*.py") if ".egg-info" not in str(path))
PUBLIC_MODULES = ("telephony", *PUBLIC_SUBPACKAGES)
# Dotted words the prose may use that are not imports: entry-point groups, and the package the
# bundled adapters are installed in (they are chosen by name in the config, not imported).
NOT_IMPORTS = {AGENTS, CARRIERS, STT, TTS, "telephony.adapters"}
PYTHON_BLOCK = re.compile(r"^```python\n(.*?)^```$", re.MULTILINE | re.DOTALL)
ANY_BLOCK = re.compile(r"^```.*?^```$", re.MULTILINE | re.DOTALL)
INLINE_CODE = re.compile(r"`([^`\n]+)`")
# A whole dotted reference: not the start of `telephony.adapters.<name>` or `telephony.*`.
DOTTED = re.compile(r"(?<![\w.])telephony(?:\.[A-Za-z_]\w*)+(?![\w.])")
# The one section that names the private modules, to say they are private.
PUBLIC_API_SECTION = re.compile(r"^## Public API\n.*?(?=^## |\Z)", re.MULTILINE | re.DOTALL)
TOP_LEVEL_AWAIT = ast.PyCF_ONLY_AST | ast.PyCF_ALLOW_TOP_LEVEL_AWAIT


def _declared(module: str) -> set[str]:
    names: list[str] = importlib.import_module(module).__all__
    return set(names)


def problem(dotted: str) -> str | None:
    """Why ``telephony.a.b`` is not a declared name, or None when it is one (or a public module)."""
    if dotted in NOT_IMPORTS:
        return None
    module, *rest = dotted.split(".")
    for part in rest:
        if f"{module}.{part}" in PUBLIC_MODULES:
            module = f"{module}.{part}"
        elif part in _declared(module):
            return None  # what follows a declared name (`telephony.Runtime.build`) is the name's own
        else:
            return f"{module}.{part} is not declared (not in {module}.__all__ nor a public subpackage)"
    return None


def _dotted(node: ast.expr) -> str | None:
    parts: list[str] = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name) and node.id == "telephony" and parts:
        return ".".join(["telephony", *reversed(parts)])
    return None


class _Reach(ast.NodeVisitor):
    """Collects, in source order, what a block imports or reaches in ``telephony`` undeclared."""

    def __init__(self) -> None:
        self.problems: list[str] = []

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        if not node.module or node.module.split(".")[0] != "telephony":
            return
        if node.module not in PUBLIC_MODULES:
            self.problems.append(f"from {node.module} import ...: {node.module} is private")
            return
        declared = _declared(node.module)
        self.problems += [
            f"from {node.module} import {alias.name}: not in {node.module}.__all__"
            for alias in node.names
            if alias.name not in declared
        ]

    def visit_Import(self, node: ast.Import) -> None:
        self.problems += [
            f"import {alias.name}: {alias.name} is private"
            for alias in node.names
            if alias.name.split(".")[0] == "telephony" and alias.name not in PUBLIC_MODULES
        ]

    def visit_Attribute(self, node: ast.Attribute) -> None:
        dotted = _dotted(node)
        if dotted is None:
            self.generic_visit(node)
        elif reason := problem(dotted):
            self.problems.append(reason)


def code_problems(source: str) -> list[str]:
    """What a Python block imports or reaches in ``telephony`` that is not declared."""
    reach = _Reach()
    reach.visit(compile(source, "<block>", "exec", flags=TOP_LEVEL_AWAIT))
    return reach.problems


def prose_problems(text: str) -> Iterator[str]:
    """What the inline code of a page's prose quotes in ``telephony`` that is not declared."""
    prose = PUBLIC_API_SECTION.sub("", ANY_BLOCK.sub("", text))
    for span in INLINE_CODE.findall(prose):
        for match in DOTTED.finditer(span):
            if reason := problem(match.group()):
                yield f"`{span}`: {reason}"


@pytest.mark.parametrize("page", PAGES, ids=lambda page: str(page.relative_to(ROOT)))
def test_code_blocks_import_only_declared_names(page: Path) -> None:
    found = [
        f"{page.name}: {reason}"
        for block in PYTHON_BLOCK.findall(page.read_text())
        for reason in code_problems(block)
    ]
    assert not found, "\n".join(found)


@pytest.mark.parametrize("module", EXAMPLE_CODE, ids=lambda path: path.name)
def test_the_example_adapter_imports_only_declared_names(module: Path) -> None:
    # It is written as an outside author writes one: from the contracts and the public API.
    found = code_problems(module.read_text())
    assert not found, "\n".join(f"{module.relative_to(ROOT)}: {reason}" for reason in found)


@pytest.mark.parametrize("page", PAGES, ids=lambda page: str(page.relative_to(ROOT)))
def test_prose_names_only_declared_names(page: Path) -> None:
    found = [f"{page.name}: {reason}" for reason in prose_problems(page.read_text())]
    assert not found, "\n".join(found)


def test_the_check_sees_a_private_import_and_an_undeclared_name() -> None:
    block = (
        "import telephony\n"
        "from telephony.server import telephony_router\n"
        "from telephony import create_app, hide_secrets\n"
        "from telephony.providers import AgentReply\n"
        "telephony.serving(app)\n"
        "telephony.log_redaction.SECRETS\n"
    )
    assert list(code_problems(block)) == [
        "from telephony.server import ...: telephony.server is private",
        "from telephony import hide_secrets: not in telephony.__all__",
        "telephony.log_redaction is not declared (not in telephony.__all__ nor a public subpackage)",
    ]
    prose = (
        "Add `telephony.log_redaction.SECRETS`; `async with telephony.serving(app):`,"
        " `telephony.store.CallStore`, `telephony.adapters.<name>`, `telephony.*`,"
        " `x = telephony.engine.CallNotFound`.\n"
        "## Public API\nThe rest (`telephony.server`) is private.\n## Next\nSee `telephony.logs`.\n"
    )
    assert list(prose_problems(prose)) == [
        "`telephony.log_redaction.SECRETS`: telephony.log_redaction is not declared"
        " (not in telephony.__all__ nor a public subpackage)",
        "`x = telephony.engine.CallNotFound`: telephony.engine is not declared"
        " (not in telephony.__all__ nor a public subpackage)",
        "`telephony.logs`: telephony.logs is not declared (not in telephony.__all__ nor a public subpackage)",
    ]
