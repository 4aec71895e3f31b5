"""The storage contract every backend honours, and the call record it keeps (from :mod:`.record`).

The engine keeps no call state in memory between webhooks: each request loads the record,
acts, and saves it. That lets a restart (or a second worker on the same SQLite file) pick up
live calls, and it is why deduplication, cached replies and stream tokens live here too.
"""

from __future__ import annotations

import hashlib
import secrets
from enum import StrEnum
from typing import TYPE_CHECKING, Final, Protocol, runtime_checkable

from telephony.providers import TelephonyError, Turn

from ..states import ACTIVE_STATES, TERMINAL_STATES, CallState
from .record import CallRecord, Thinking, decode_record, encode_record

if TYPE_CHECKING:
    from .batch import WriteBatch

__all__ = [
    "ACTIVE_STATES",
    "DEFAULT_CLAIM_LEASE_SECONDS",
    "DEFAULT_EVENT_RETENTION_SECONDS",
    "TERMINAL_STATES",
    "CallRecord",
    "CallState",
    "CallStore",
    "ClaimOutcome",
    "StoreUnavailable",
    "Thinking",
    "decode_record",
    "encode_record",
    "hash_token",
    "new_owner",
    "new_token",
]

DEFAULT_EVENT_RETENTION_SECONDS: Final[float] = 24 * 60 * 60
"""Carriers retry a webhook for minutes, not days, so a day of event ids is ample."""

DEFAULT_CLAIM_LEASE_SECONDS: Final[float] = 6.0
"""How long a webhook claim outlives its handler's last sign of life.

The handler renews the lease while the turn runs, so only a dead handler's claim expires; a
carrier's retry after a crash then waits at most this long before running the turn itself.
"""


class StoreUnavailable(TelephonyError):
    """The store could not be reached, or did not answer in time.

    Every backend raises this (and only this) for a store that is down, frozen or unreachable,
    whatever its client library calls it, so the webhook and stream paths can tell an outage
    (tell the caller to hold on, try the turn again) from a bug. Whether the operation took
    effect is unknown: callers retry through the same dedupe they always use.
    """


class ClaimOutcome(StrEnum):
    """What :meth:`CallStore.claim_event` found.

    Attributes:
        WON: The caller holds the claim now and must handle the event, then store its reply.
        RUNNING: Another handler holds a live lease; wait for its reply (or for the lease to end).
        DONE: The event was handled; its reply is in :meth:`CallStore.get_reply`.
    """

    WON = "won"
    RUNNING = "running"
    DONE = "done"


@runtime_checkable
class CallStore(Protocol):
    """Durable call state shared by every webhook, media socket and API request.

    All methods are coroutines so a backend may do I/O without blocking the event loop.
    Every backend raises :class:`RuntimeError` when used after :meth:`close`.
    """

    async def create(self, record: CallRecord) -> None:
        """Store a new call. Raises :class:`ValueError` when ``call_id`` already exists."""
        ...

    async def get(self, call_id: str) -> CallRecord | None:
        """A private copy of the call, or None."""
        ...

    async def get_by_provider_id(self, provider: str, provider_call_id: str) -> CallRecord | None:
        """Find a call from a carrier webhook that does not echo our id (the newest, if several)."""
        ...

    async def save(self, record: CallRecord) -> None:
        """Insert or replace the whole record, re-indexing its ``provider_call_id``."""
        ...

    async def delete(self, call_id: str) -> None:
        """Forget a call that never got going (its first webhook failed); unknown ids are ignored."""
        ...

    async def append_turn(self, call_id: str, turn: Turn) -> CallRecord:
        """Append one turn atomically and durably; return the updated record.

        Raises :class:`KeyError` for an unknown call. Atomic so concurrent speakers never
        lose a line; callers holding an older copy should use the returned record.
        """
        ...

    def transaction(self) -> WriteBatch:
        """A batch of writes committed as one transaction when its ``async with`` block ends.

        Use it to write everything one turn changes (record, transcript lines, cached reply)
        with one commit instead of one per change. All or nothing:
        see :class:`~telephony.store.WriteBatch` for the operations and the failure rules.
        """
        ...

    async def list_calls(self, *, active_only: bool = False, limit: int = 100) -> list[CallRecord]:
        """The most recently created calls first."""
        ...

    async def count_active(self, direction: str | None = None) -> int:
        """Calls not yet terminal, optionally of one direction, for concurrency limits."""
        ...

    async def claim_event(
        self,
        event_id: str,
        call_id: str | None,
        *,
        lease_seconds: float = DEFAULT_CLAIM_LEASE_SECONDS,
        owner: str = "",
    ) -> ClaimOutcome:
        """Try to become the one handler of ``event_id``, for ``lease_seconds`` unless renewed.

        Returns :attr:`ClaimOutcome.DONE` once a reply is stored for the event, else
        :attr:`ClaimOutcome.RUNNING` while another claim's lease lasts, else takes the claim
        (a first delivery, or a retry whose handler died) and returns :attr:`ClaimOutcome.WON`.
        Ids older than the retention window may be forgotten, so a very late retry counts as new.

        ``owner`` names this claimant (see :func:`new_owner`): renewing and releasing take it, so
        a handler that stalled past its lease cannot extend or drop the claim another took over.
        """
        ...

    async def renew_event(self, event_id: str, lease_seconds: float, *, owner: str = "") -> bool:
        """Extend ``owner``'s claim from now; False when it is not theirs (any more) or is done."""
        ...

    async def release_event(self, event_id: str, *, owner: str | None = None) -> None:
        """Forget a claim (only ``owner``'s, when given), so the event can be claimed afresh."""
        ...

    async def set_reply(self, event_id: str, content_type: str, body: bytes) -> None:
        """Store the answer to a webhook, which marks it done: retries get the same answer.

        Last write wins.
        """
        ...

    async def get_reply(self, event_id: str) -> tuple[str, bytes] | None:
        """The cached ``(content_type, body)`` for ``event_id``, if any."""
        ...

    async def issue_token(self, call_id: str, ttl_seconds: float) -> str:
        """Mint a single-use media-stream token bound to ``call_id``; only its hash is stored."""
        ...

    async def consume_token(self, token: str, call_id: str) -> bool:
        """True exactly once, for the bound call, before expiry.

        A token presented for another call is rejected without being used up.
        """
        ...

    async def close(self) -> None:
        """Release resources. Safe to call twice."""
        ...


def new_owner() -> str:
    """A fresh claimant name for :meth:`CallStore.claim_event` (unique across processes)."""
    return secrets.token_hex(8)


def new_token() -> str:
    """A fresh unguessable stream token (192 bits)."""
    return secrets.token_urlsafe(24)


def hash_token(token: str) -> str:
    """The lookup key for a token.

    Looking tokens up by hash means the secret itself is never compared byte by byte (no timing
    leak) and a leaked database holds nothing a caller could replay.
    """
    return hashlib.sha256(token.encode("utf-8")).hexdigest()
