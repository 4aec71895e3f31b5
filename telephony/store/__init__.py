"""Where call state lives between webhooks.

Pick ``memory`` for tests, ``sqlite`` to survive restarts, ``redis`` for several instances.
"""

from __future__ import annotations

from pathlib import Path

from telephony.providers import require_module

from .base import (
    ACTIVE_STATES,
    DEFAULT_CLAIM_LEASE_SECONDS,
    DEFAULT_EVENT_RETENTION_SECONDS,
    TERMINAL_STATES,
    CallRecord,
    CallState,
    CallStore,
    ClaimOutcome,
    StoreUnavailable,
    Thinking,
)
from .batch import WriteBatch
from .health import StoreHealth
from .memory import MemoryCallStore
from .redis_settings import DEFAULT_KEY_PREFIX, is_redis_url
from .sqlite import SqliteCallStore
from .timed import TimedStore

__all__ = [
    "ACTIVE_STATES",
    "DEFAULT_CLAIM_LEASE_SECONDS",
    "DEFAULT_EVENT_RETENTION_SECONDS",
    "TERMINAL_STATES",
    "CallRecord",
    "CallState",
    "CallStore",
    "ClaimOutcome",
    "DEFAULT_KEY_PREFIX",
    "MemoryCallStore",
    "SqliteCallStore",
    "StoreHealth",
    "StoreUnavailable",
    "Thinking",
    "TimedStore",
    "WriteBatch",
    "is_redis_url",
    "open_store",
]


def open_store(kind: str, location: Path | str | None, *, key_prefix: str = DEFAULT_KEY_PREFIX) -> CallStore:
    """Build the store named in configuration.

    Synchronous so it can run while the app is being assembled, before the event loop starts.
    The Redis store connects on first use (see :func:`telephony.startup.usable_store` for the
    start-up check).

    Args:
        kind: ``"memory"``, ``"sqlite"`` or ``"redis"``.
        location: The SQLite data directory, or the Redis URL; ignored for memory.
        key_prefix: Where the Redis store's keys start.

    Raises:
        ValueError: For an unknown kind, a SQLite store without a directory, or a Redis store
            without a ``redis://``, ``rediss://`` or ``unix://`` URL.
        MissingDependency: For ``"redis"`` when the ``redis`` package is not installed.
    """
    if kind == "memory":
        return MemoryCallStore()
    if kind == "sqlite":
        if location is None:
            raise ValueError("the sqlite call store needs a directory")
        return SqliteCallStore(Path(location))
    if kind == "redis":
        if not isinstance(location, str) or not is_redis_url(location):
            raise ValueError("the redis call store needs a redis://, rediss:// or unix:// URL")
        require_module("redis", "redis")
        from .redis import RedisCallStore

        return RedisCallStore(location, key_prefix=key_prefix)
    raise ValueError(f"unknown call store {kind!r}; expected 'memory', 'sqlite' or 'redis'")
