"""Which stream calls are really live: a store lease per media stream, and the sweep that reads it.

A stream call lives only as long as its media socket, and the socket lives in one server
process. When that process dies (``kill -9``, out of memory, a lost machine) the store still
says the call is live, and it would hold a ``maxConcurrentCalls`` slot until its max duration.
So while a stream session runs, its process holds a lease in the store (a claim on
``stream:<call id>``, renewed while the socket is open and released when it closes). Any process
sharing the store can then tell a live stream from a dead one: a stream call answered long
enough ago whose lease nobody holds has lost its stream, and the sweep ends it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Final

from .store import CallRecord, CallStore, ClaimOutcome
from .store.base import new_owner
from .store.leases import keep_claim

if TYPE_CHECKING:
    from .engine import ConversationEngine

__all__ = ["LOST_STREAM_STATE", "StreamLease", "StreamReconciler", "stream_lease_id"]

_log = logging.getLogger("telephony.liveness")

LOST_STREAM_STATE: Final = "error"
"""The terminal state of a call whose stream died with its process (its end reason says which)."""

STREAM_LOST: Final = "stream-lost"
"""End reason: the call's stream was live once, and its process died."""

STREAM_NEVER_CONNECTED: Final = "stream-not-connected"
"""End reason: the call was answered with a stream that never started."""


def stream_lease_id(call_id: str) -> str:
    """The claim id of a call's stream lease (a namespace webhook event ids never use)."""
    return f"stream:{call_id}"


class StreamLease:
    """The lease one stream session holds on its call while its socket is open.

    Args:
        store: The store every instance shares.
        call_id: The call the stream serves.
        lease_seconds: How long the lease outlives its holder's last renewal.
    """

    def __init__(self, store: CallStore, call_id: str, lease_seconds: float) -> None:
        if lease_seconds <= 0:
            raise ValueError("lease_seconds must be positive")
        self.store = store
        self.call_id = call_id
        self.lease_seconds = lease_seconds
        self.held = False
        self._owner = new_owner()

    async def acquire(self) -> bool:
        """Take the lease; False when another holder has it (a sweep is ending the call)."""
        outcome = await self.store.claim_event(
            stream_lease_id(self.call_id), self.call_id, lease_seconds=self.lease_seconds, owner=self._owner
        )
        self.held = outcome is ClaimOutcome.WON
        return self.held

    async def keep(self) -> None:
        """Renew the lease until cancelled, so only a dead process's lease runs out."""
        if self.held:
            lost = f"call {self.call_id}: the stream lease was lost (this process stalled?)"
            await keep_claim(
                self.store, stream_lease_id(self.call_id), self._owner, self.lease_seconds, lost=lost
            )

    async def release(self) -> None:
        """Give the lease up: the stream has ended, by itself or with its call."""
        if self.held:
            self.held = False
            try:
                await self.store.release_event(stream_lease_id(self.call_id), owner=self._owner)
            except Exception:  # e.g. the store closed first at shutdown: the lease runs out instead
                _log.info("call %s: the stream lease could not be released; it runs out", self.call_id)


class StreamReconciler:
    """Ends stream calls whose stream is gone: its process died, or it never connected.

    A call is looked at once it was answered more than ``grace_seconds`` ago: the time a fresh
    call needs to connect its stream (the carrier's connect, plus ``streaming.preStartTimeoutMs``
    for the start message), or to be moved to markup mode when its stream never starts
    (``streaming.startTimeoutMs``, :mod:`telephony.stream_fallback`); a call this process still
    waits on, or is moving, is left to that. If no instance holds its stream lease then, its
    stream is lost: the carrier is asked to hang up ("already ended" counts as done) and the
    record ends in state ``error`` with end reason ``stream-lost`` (or ``stream-not-connected``
    when the stream never started, and could not be moved to markup mode either), so it no
    longer counts against ``maxConcurrentCalls``.

    Args:
        engine: Ends the calls (carrier hang-up, then the record).
        lease_seconds: The lease the sweep takes while it decides, as sessions do.
        grace_seconds: How long after its answer a call may still be connecting its stream.
        clock: Wall-clock seconds, as stored in records.
    """

    def __init__(
        self,
        engine: ConversationEngine,
        *,
        lease_seconds: float,
        grace_seconds: float,
        clock: Callable[[], float],
    ) -> None:
        self.engine = engine
        self.lease_seconds = lease_seconds
        self.grace_seconds = grace_seconds
        self._clock = clock

    def _due(self, record: CallRecord, now: float) -> bool:
        return (
            record.media == "stream"
            and not record.terminal
            and record.answered_at is not None
            and now - record.answered_at > self.grace_seconds
            and not self.engine.has_stream(record.call_id)
            and not self.engine.awaiting_stream(record.call_id)  # the fallback's turn first
        )

    async def sweep(self) -> list[str]:
        """End every lost stream call in the store; returns their ids.

        Not while the store is away, nor for a lease's length after it came back: no lease could
        be renewed meanwhile, and a live stream must get the chance to renew its own first.
        """
        if self.engine.store_health.settling(self.lease_seconds):
            return []
        store = self.engine.store
        now = self._clock()
        lost = []
        for record in await store.list_calls(active_only=True, limit=10_000):
            if not self._due(record, now):
                continue
            lease = StreamLease(store, record.call_id, self.lease_seconds)
            if not await lease.acquire():
                continue  # its stream is live on some instance
            try:
                if await self._end_lost(record.call_id):
                    lost.append(record.call_id)
            finally:
                await lease.release()
        return lost

    async def _end_lost(self, call_id: str) -> bool:
        record = await self.engine.store.get(call_id)
        if record is None or record.terminal or self.engine.has_stream(call_id):
            return False  # ended, or its stream connected here, since the listing
        # A stream writes its opening line as it starts: no line, no stream ever.
        reason = STREAM_LOST if record.transcript else STREAM_NEVER_CONNECTED
        _log.warning(
            "call %s: %s (no instance holds its stream); hanging it up",
            call_id,
            "its stream died with its process" if reason == STREAM_LOST else "its stream never connected",
        )
        await self.engine.end_call(call_id, reason=reason, state=LOST_STREAM_STATE, force=True)
        return True
