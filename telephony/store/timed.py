"""A call store that reports how long each operation of the store it wraps takes, and whether it answered.

The runtime wraps whichever backend it is given, so every backend (and a custom one) is timed
the same way without knowing about metrics. A write batch is timed once, at its commit, as the
single transaction it is.

The same wrapper tells an outage from a bug for every backend: an operation that does not
answer within :data:`OPERATION_DEADLINE_SECONDS`, or fails with a timeout or connection error,
raises :class:`~telephony.store.StoreUnavailable`, and each outcome is reported to the
:class:`~telephony.store.StoreHealth` that logs outages and that ``/health`` reads.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Final, TypeVar

import anyio

from telephony.providers import Turn

from .base import DEFAULT_CLAIM_LEASE_SECONDS, CallRecord, CallStore, ClaimOutcome, StoreUnavailable
from .batch import BatchOperation, WriteBatch
from .health import StoreHealth

__all__ = ["OPERATION_DEADLINE_SECONDS", "TimedStore"]

_T = TypeVar("_T")

OPERATION_DEADLINE_SECONDS: Final = 5.0
"""The longest one store operation may take before the store counts as unreachable.

A backstop for backends without timeouts of their own: the Redis store gives up sooner (its
socket timeout), so a frozen server costs a webhook about two seconds, not five.
"""

_OUTAGE_ERRORS: Final = (TimeoutError, ConnectionError)
"""What any backend's failure to reach its storage looks like (Python's own timeouts and sockets)."""


class TimedStore:
    """Delegates every :class:`CallStore` operation to ``store``, timing each one.

    Args:
        store: The backend that does the work.
        observe: Called with the operation's name (the method's, or ``transaction`` for a
            batch commit) and its duration in seconds, whether it succeeded or raised.
        health: Told whether each operation reached the store.
    """

    def __init__(
        self,
        store: CallStore,
        observe: Callable[[str, float], None],
        *,
        health: StoreHealth | None = None,
    ) -> None:
        self.inner = store
        self._observe = observe
        self.health = health or StoreHealth()

    async def _timed(self, operation: str, pending: Awaitable[_T]) -> _T:
        started = time.perf_counter()
        try:
            with anyio.fail_after(OPERATION_DEADLINE_SECONDS):
                result = await pending
        except StoreUnavailable as exc:
            self.health.failed(exc)
            raise
        except _OUTAGE_ERRORS as exc:
            self.health.failed(exc)
            why = f"the call store did not answer {operation}: {type(exc).__name__}"
            raise StoreUnavailable(why) from exc
        finally:
            self._observe(operation, time.perf_counter() - started)
        self.health.answered()
        return result

    async def create(self, record: CallRecord) -> None:
        """See :meth:`CallStore.create`."""
        await self._timed("create", self.inner.create(record))

    async def get(self, call_id: str) -> CallRecord | None:
        """See :meth:`CallStore.get`."""
        return await self._timed("get", self.inner.get(call_id))

    async def get_by_provider_id(self, provider: str, provider_call_id: str) -> CallRecord | None:
        """See :meth:`CallStore.get_by_provider_id`."""
        return await self._timed(
            "get_by_provider_id", self.inner.get_by_provider_id(provider, provider_call_id)
        )

    async def save(self, record: CallRecord) -> None:
        """See :meth:`CallStore.save`."""
        await self._timed("save", self.inner.save(record))

    async def delete(self, call_id: str) -> None:
        """See :meth:`CallStore.delete`."""
        await self._timed("delete", self.inner.delete(call_id))

    async def append_turn(self, call_id: str, turn: Turn) -> CallRecord:
        """See :meth:`CallStore.append_turn`."""
        return await self._timed("append_turn", self.inner.append_turn(call_id, turn))

    def transaction(self) -> WriteBatch:
        """See :meth:`CallStore.transaction`; the batch's commit is timed as ``transaction``."""

        async def commit(operations: tuple[BatchOperation, ...]) -> None:
            batch = self.inner.transaction()
            batch.operations.extend(operations)
            await self._timed("transaction", _run_batch(batch))

        return WriteBatch(commit)

    async def list_calls(self, *, active_only: bool = False, limit: int = 100) -> list[CallRecord]:
        """See :meth:`CallStore.list_calls`."""
        return await self._timed("list_calls", self.inner.list_calls(active_only=active_only, limit=limit))

    async def count_active(self, direction: str | None = None) -> int:
        """See :meth:`CallStore.count_active`."""
        return await self._timed("count_active", self.inner.count_active(direction))

    async def claim_event(
        self,
        event_id: str,
        call_id: str | None,
        *,
        lease_seconds: float = DEFAULT_CLAIM_LEASE_SECONDS,
        owner: str = "",
    ) -> ClaimOutcome:
        """See :meth:`CallStore.claim_event`."""
        claim = self.inner.claim_event(event_id, call_id, lease_seconds=lease_seconds, owner=owner)
        return await self._timed("claim_event", claim)

    async def renew_event(self, event_id: str, lease_seconds: float, *, owner: str = "") -> bool:
        """See :meth:`CallStore.renew_event`."""
        return await self._timed("renew_event", self.inner.renew_event(event_id, lease_seconds, owner=owner))

    async def release_event(self, event_id: str, *, owner: str | None = None) -> None:
        """See :meth:`CallStore.release_event`."""
        await self._timed("release_event", self.inner.release_event(event_id, owner=owner))

    async def set_reply(self, event_id: str, content_type: str, body: bytes) -> None:
        """See :meth:`CallStore.set_reply`."""
        await self._timed("set_reply", self.inner.set_reply(event_id, content_type, body))

    async def get_reply(self, event_id: str) -> tuple[str, bytes] | None:
        """See :meth:`CallStore.get_reply`."""
        return await self._timed("get_reply", self.inner.get_reply(event_id))

    async def issue_token(self, call_id: str, ttl_seconds: float) -> str:
        """See :meth:`CallStore.issue_token`."""
        return await self._timed("issue_token", self.inner.issue_token(call_id, ttl_seconds))

    async def consume_token(self, token: str, call_id: str) -> bool:
        """See :meth:`CallStore.consume_token`."""
        return await self._timed("consume_token", self.inner.consume_token(token, call_id))

    async def close(self) -> None:
        """See :meth:`CallStore.close`."""
        await self.inner.close()

    def __getattr__(self, name: str) -> object:
        # What the contract does not name (a backend's extras) passes through, untimed.
        if name == "inner":
            raise AttributeError(name)
        return getattr(self.inner, name)


async def _run_batch(batch: WriteBatch) -> None:
    """Commit ``batch`` (its block is empty: the operations are queued already)."""
    async with batch:
        pass
