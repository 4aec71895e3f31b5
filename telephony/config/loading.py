"""Building a :class:`Config`: from a file or a mapping, plus overrides and the environment."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import msgspec

from .environment import apply_core_environment, with_adapter_environment
from .errors import ConfigError, explain_config_error
from .files import read_file
from .schema import Config
from .sources import camelize, deep_merge, split_sections, unwrap_openclaw

__all__ = ["DEFAULT_STORE_ROOT", "config_from_mapping", "default_store_for", "load_config"]


def load_config(
    path: str | os.PathLike[str] | None = None,
    *,
    env: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> Config:
    """Load the config file (if any), fill secrets from the environment and validate once.

    Args:
        path: A ``.json`` (comments and JSON5-style trailing commas tolerated), ``.toml``,
            ``.yaml`` or ``.yml`` file. ``None`` means defaults plus environment.
        env: Environment to read secrets from; defaults to ``os.environ``. Only fills values the
            file leaves unset.
        overrides: Deep-merged over the file data (after the openclaw wrapper is removed);
            keys may be camelCase or snake_case; ``None`` values are ignored.

    Raises:
        ConfigError: the file is missing or unparsable (message names the file), or a key or
            value is invalid (message names the camelCase key path).
    """
    if path is None:
        return config_from_mapping({}, env=env, overrides=overrides)
    file = Path(path)
    data = read_file(file)
    try:
        return config_from_mapping(data, env=env, overrides=overrides, default_store=default_store_for(file))
    except ConfigError as exc:
        exc.source = str(file)
        raise


def config_from_mapping(
    data: Mapping[str, Any],
    *,
    env: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
    default_store: str | None = None,
) -> Config:
    """Build a :class:`Config` from already-parsed data (bare plugin config or whole openclaw file).

    Args:
        data: The mapping as it would appear in a config file.
        env: Environment to read secrets from; defaults to ``os.environ``.
        overrides: As for :func:`load_config`.
        default_store: The ``store`` when the data leaves it unset; ``None`` keeps the schema's
            ``~/.telephony``.

    Raises:
        ConfigError: a key or value is invalid; the message names the key path.
    """
    if not isinstance(data, Mapping):
        raise ConfigError(f"the config must be an object, got {type(data).__name__}")
    raw, prefix = unwrap_openclaw(data)
    stt = raw.get("stt")
    if isinstance(stt, Mapping):
        raw["sttLegacy"] = dict(raw.pop("stt"))
    if overrides:
        raw = deep_merge(raw, camelize(overrides, Config))
    environ = os.environ if env is None else env
    apply_core_environment(raw, environ)
    if default_store is not None and raw.get("store") in (None, ""):
        raw["store"] = default_store
    split_sections(raw, prefix)
    try:
        config = msgspec.convert(raw, Config)
    except msgspec.ValidationError as exc:
        raise explain_config_error(str(exc), raw, prefix) from None
    return with_adapter_environment(config, environ)


DEFAULT_STORE_ROOT = "~/.telephony"
"""Where the default stores of config files live, one directory per file."""


def default_store_for(file: Path) -> str:
    """The default ``store`` of a config file: its own directory under ``~/.telephony``.

    Named after the file and a hash of its absolute path (``~/.telephony/voice-1a2b3c4d``), so two
    configs never share call state by accident: a call left live by one cannot make another
    server answer "busy". The same file always gets the same directory.
    """
    absolute = str(file.expanduser().resolve())
    digest = hashlib.sha256(absolute.encode()).hexdigest()[:8]
    return f"{DEFAULT_STORE_ROOT}/{file.stem or 'config'}-{digest}"
