"""Start-up checks of what the config names outside the adapters.

A mistake stops the server with one line naming the key, instead of a traceback or a failure on
the first call. Adapter settings and names are checked where adapters are built
(:mod:`telephony.plugins`).
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from telephony.providers import MissingDependency

from .config.errors import ConfigError
from .config.unused import unused_keys
from .store import CallStore, is_redis_url, open_store
from .urls import redact

if TYPE_CHECKING:
    from .config.schema import Config

__all__ = [
    "REDIS_CHECK_TIMEOUT_SECONDS",
    "config_warnings",
    "describe_store",
    "usable_store",
    "usable_store_dir",
]

REDIS_CHECK_TIMEOUT_SECONDS = 3.0
"""How long start-up waits for the configured Redis to answer before refusing to start."""


def usable_store(config: Config) -> CallStore:
    """The store ``store`` names: a Redis server that answers, or a usable data directory.

    Raises:
        ConfigError: naming ``store`` when the Redis server cannot be reached (or refuses the
            credentials), when the ``redis`` extra is missing, or when the directory is unusable.
            The message never carries the URL's password.
    """
    if not is_redis_url(config.store):
        return open_store("sqlite", usable_store_dir(config))
    url = config.store
    shown = redact(url)
    try:
        from .store.redis import ping
    except MissingDependency as exc:
        raise ConfigError(f"store: {shown} cannot be used: {exc}", path="store") from None
    try:
        ping(url, timeout_seconds=REDIS_CHECK_TIMEOUT_SECONDS)
    except Exception as exc:  # any failure to talk to it: refused, timed out, bad password, TLS
        reason = str(exc) or type(exc).__name__
        password = urlsplit(url).password
        if password:
            reason = reason.replace(password, "***")
        message = f"store: cannot reach the Redis server at {shown}: {reason}"
        raise ConfigError(message, path="store") from None
    return open_store("redis", url, key_prefix=config.store_key_prefix)


def usable_store_dir(config: Config) -> Path:
    """The ``store`` directory, created if missing, once a file has been written and removed there.

    Raises:
        ConfigError: naming ``store`` when the directory cannot be created or written (a file in
            its place, no permission, a read-only disk).
    """
    try:
        directory = config.store_dir
    except RuntimeError as exc:  # "~user" for an unknown user, or no home directory
        raise ConfigError(f"store: cannot use {config.store!r}: {exc}", path="store") from None
    try:
        directory.mkdir(parents=True, exist_ok=True)
        handle, probe = tempfile.mkstemp(prefix=".write-check-", dir=directory)
        os.close(handle)
        os.unlink(probe)
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise ConfigError(
            f"store: cannot use {str(directory)!r} as the data directory: {reason}", path="store"
        ) from None
    return directory


def config_warnings(config: Config) -> list[str]:
    """What start-up warns about in a config that runs: refused inbound calls, keys not acted on.

    openclaw's default ``inboundPolicy`` is ``disabled``, so a file that leaves it out refuses
    every caller; that is said once here rather than discovered on the first call.
    """
    warnings: list[str] = []
    if config.inbound_policy == "disabled":
        warnings.append(
            'inboundPolicy is "disabled" (also when it is not set): inbound calls will be refused; '
            'set inboundPolicy to "open" to answer every caller, or to "allowlist" with the numbers '
            "in allowFrom"
        )
    elif config.inbound_policy in ("allowlist", "pairing") and not config.allow_from:
        warnings.append(
            f'inboundPolicy is "{config.inbound_policy}" but allowFrom is empty: inbound calls will be '
            "refused; list the callers' numbers in allowFrom"
        )
    unused = unused_keys(config)
    if unused:
        warnings.append(
            f"these keys are accepted but not acted on (see docs/configuration.md): {', '.join(unused)}"
        )
    return warnings


def describe_store(config: Config) -> str:
    """Which store ``store`` names, for the start-up log (a Redis URL without its password)."""
    if is_redis_url(config.store):
        return f"Redis at {redact(config.store)}"
    return f"SQLite in {config.store_dir}"
