"""How control requests reach the instance holding a call's media stream."""

from __future__ import annotations

from ..store import CallStore
from .base import (
    ControlBus,
    ControlFailed,
    ControlHandler,
    ControlReply,
    ControlRequest,
    ControlTimeout,
    ControlUnavailable,
)
from .local import LocalControlBus

__all__ = [
    "ControlBus",
    "ControlFailed",
    "ControlHandler",
    "ControlReply",
    "ControlRequest",
    "ControlTimeout",
    "ControlUnavailable",
    "LocalControlBus",
    "bus_for",
]


def bus_for(store: CallStore) -> ControlBus:
    """The bus that reaches every instance sharing ``store``: Redis pub/sub for the Redis store."""
    if getattr(store, "shared", False):
        from ..store.redis import RedisCallStore
        from .redis import RedisControlBus

        if isinstance(store, RedisCallStore):
            return RedisControlBus(store.client, prefix=store.prefix)
    return LocalControlBus()
