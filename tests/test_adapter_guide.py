"""The adapter guide shows the example adapter as it is: every block it quotes is in the package.

``docs/writing-an-adapter.md`` walks through ``examples/acme`` module by module and quotes its
tests; a change to either that the other does not follow fails here.
"""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
GUIDE = ROOT / "docs" / "writing-an-adapter.md"
EXAMPLE = ROOT / "examples" / "acme"
BLOCK = re.compile(r"^```(python|toml)\n(.*?)^```$", re.MULTILINE | re.DOTALL)

# The guide's sections that quote the example, and how many blocks each quotes at least.
QUOTING = {
    "## Packaging and registration": 2,
    "## Example: a command carrier": 7,
    "## Testing": 7,
}


def _section(text: str, heading: str) -> str:
    start = text.index(f"\n{heading}\n")
    end = text.find("\n## ", start + len(heading) + 2)
    return text[start : end if end != -1 else len(text)]


def _quoted(section: str) -> list[str]:
    """The blocks that quote the example; illustrations (a user's config, other entry-point
    groups, an optional SDK that Acme does not have) are left out."""
    blocks = [body for _, body in BLOCK.findall(section)]
    illustrations = ("provider =", '[project.entry-points."telephony.agents"]')
    return [b for b in blocks if not b.startswith(illustrations) and "acme_sdk" not in b]


def test_every_block_the_guide_quotes_from_the_example_is_in_it() -> None:
    text = GUIDE.read_text()
    sources = {path: path.read_text() for path in EXAMPLE.rglob("*") if path.suffix in (".py", ".toml")}
    for heading, at_least in QUOTING.items():
        quoted = _quoted(_section(text, heading))
        assert len(quoted) >= at_least, f"{heading}: expected at least {at_least} quoted blocks"
        for block in quoted:
            found = [path for path, source in sources.items() if block in source]
            first_line = block.splitlines()[0]
            assert found, f"{heading}: the block starting {first_line!r} is not in examples/acme"


def test_every_module_of_the_example_is_shown_whole() -> None:
    text = _section(GUIDE.read_text(), "## Example: a command carrier")
    for module in sorted((EXAMPLE / "src" / "telephony_acme").glob("*.py")):
        assert f"```python\n{module.read_text()}```" in text, f"{module.name} is not shown as it is"
