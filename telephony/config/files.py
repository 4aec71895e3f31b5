"""Reading config files: JSON (and the JSON5 subset openclaw files use), TOML and YAML."""

from __future__ import annotations

import json
import re
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from .errors import ConfigError

__all__ = ["read_file"]


def read_file(file: Path) -> Any:
    """Parse a config file by its extension.

    Raises:
        ConfigError: naming the file, when its type is unsupported or it cannot be read or parsed.
    """
    suffix = file.suffix.lower()
    if suffix not in {".json", ".json5", ".toml", ".yaml", ".yml"}:
        raise ConfigError(
            f"{file}: unsupported config file type {suffix or '(none)'!r}; use .json, .toml, .yaml or .yml",
            source=str(file),
        )
    try:
        text = file.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"config file not found: {file}", source=str(file)) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read config file {file}: {exc}", source=str(file)) from None
    try:
        if suffix == ".toml":
            return tomllib.loads(text)
        if suffix in {".yaml", ".yml"}:
            data = yaml.safe_load(text)
            return {} if data is None else data
        return _parse_json(text)
    except (ValueError, yaml.YAMLError) as exc:
        raise ConfigError(f"cannot parse config file {file}: {exc}", source=str(file)) from None


def _parse_json(text: str) -> Any:
    """Strict JSON, else the JSON5 subset openclaw files use (comments, trailing commas, bare keys)."""
    try:
        return json.loads(text)
    except json.JSONDecodeError as strict_error:
        try:
            data = yaml.load(_strip_json_comments(text), Loader=_Json5Loader)
        except (ValueError, yaml.YAMLError):
            raise strict_error from None
        if not isinstance(data, Mapping):
            raise strict_error from None
        return data


class _Json5Loader(yaml.SafeLoader):
    """YAML safe loader whose only booleans are ``true``/``false`` (as in JSON5)."""


_Json5Loader.yaml_implicit_resolvers = {
    key: [resolver for resolver in resolvers if resolver[0] != "tag:yaml.org,2002:bool"]
    for key, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Json5Loader.add_implicit_resolver("tag:yaml.org,2002:bool", re.compile(r"^(?:true|false)$"), list("tf"))


def _strip_json_comments(text: str) -> str:
    """Remove ``//`` and ``/* */`` comments and tabs outside strings, keeping line numbers."""
    out: list[str] = []
    i, n = 0, len(text)
    quote: str | None = None
    while i < n:
        char = text[i]
        if quote is not None:
            if char == "\\" and i + 1 < n:
                out.append(text[i : i + 2])
                i += 2
                continue
            if char == quote:
                quote = None
            out.append(char)
        elif char in "\"'":
            quote = char
            out.append(char)
        elif text.startswith("//", i):
            end = text.find("\n", i)
            i = n if end < 0 else end
            continue
        elif text.startswith("/*", i):
            end = text.find("*/", i + 2)
            if end < 0:
                raise ValueError("unterminated /* comment")
            out.append("\n" * text.count("\n", i, end))
            i = end + 2
            continue
        else:
            out.append(" " if char == "\t" else char)
        i += 1
    return "".join(out)
