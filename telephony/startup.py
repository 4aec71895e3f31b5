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
from .store import CallStore, is_redis_url, open_store
from .urls import redact

if TYPE_CHECKING:
    from .config.schema import Config

__all__ = ["REDIS_CHECK_TIMEOUT_SECONDS", "usable_store", "usable_store_dir"]

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
