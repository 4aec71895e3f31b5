"""Where call state lives between webhooks: pick ``memory`` for tests, ``sqlite`` to survive restarts."""

from __future__ import annotations

from pathlib import Path

from .base import (
    ACTIVE_STATES,
    DEFAULT_CLAIM_LEASE_SECONDS,
    DEFAULT_EVENT_RETENTION_SECONDS,
    TERMINAL_STATES,
    CallRecord,
    CallState,
    CallStore,
    ClaimOutcome,
)
from .batch import WriteBatch
from .memory import MemoryCallStore
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
    "MemoryCallStore",
    "SqliteCallStore",
    "TimedStore",
    "WriteBatch",
    "open_store",
]


def open_store(kind: str, directory: Path | None) -> CallStore:
    """Build the store named in configuration.

    Synchronous so it can run while the app is being assembled, before the event loop starts.

    Args:
        kind: ``"memory"`` or ``"sqlite"``.
        directory: Where the SQLite file lives; required for ``"sqlite"``, ignored for memory.

    Raises:
        ValueError: For an unknown kind or a SQLite store without a directory.
    """
    if kind == "memory":
        return MemoryCallStore()
    if kind == "sqlite":
        if directory is None:
            raise ValueError("the sqlite call store needs a directory")
        return SqliteCallStore(directory)
    raise ValueError(f"unknown call store {kind!r}; expected 'memory' or 'sqlite'")
