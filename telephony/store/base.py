"""Call records and the storage contract every backend honours.

The engine keeps no call state in memory between webhooks: each request loads the record,
acts, and saves it. That lets a restart (or a second worker on the same SQLite file) pick up
live calls, and it is why deduplication, cached replies and stream tokens live here too.
"""

from __future__ import annotations

import hashlib
import secrets
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Final, Literal, Protocol, runtime_checkable

import msgspec

from telephony.providers import Action, TelephonyError, Turn

from ..states import ACTIVE_STATES, TERMINAL_STATES, CallState

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


class Thinking(msgspec.Struct, frozen=True, kw_only=True):
    """A caller's turn whose reply the agent was still working on when its webhook was answered.

    Stored with the record, so the carrier's fetch of the reply waits for it on any instance,
    and a note left behind by a process that died is recognised as stale by its age.

    Attributes:
        event_id: The webhook that brought the caller's words.
        turn: The record's ``gather_turn`` then: the reply answers that turn.
        started_at: When the caller's words arrived (wall clock, like every record timestamp).
    """

    event_id: str
    turn: int
    started_at: float


class CallRecord(msgspec.Struct, kw_only=True):
    """Everything the framework remembers about one call.

    Records returned by a store are private copies: mutate one freely, then :meth:`CallStore.save`
    it. Timestamps are wall-clock seconds (``time.time``) because they must survive restarts.

    Attributes:
        call_id: Our own id, chosen before the carrier knows about the call.
        provider: The carrier adapter's name (``"twilio"``, ``"local"``).
        provider_call_id: The carrier's id, known once the call is placed or arrives.
        mode: ``"conversation"`` talks with an agent; ``"notify"`` speaks ``message`` and hangs up.
        media: ``"markup"`` drives the call with webhook answers; ``"stream"`` uses a media socket.
        message: The notify text, or the conversation's purpose or first line.
        end_reason: Why the call ended, once terminal.
        no_input_count: Consecutive gathers that heard nothing, for the give-up rule.
        transcript: Every turn so far, oldest first.
        provisional_id: ``provider_call_id`` is a request id the carrier's callbacks will not
            carry; the first callback naming this call replaces it with the real one.
        answered_by: ``human`` or ``machine`` when the carrier detected it.
        gather_turn: The newest listening turn handed out; results of older turns are stale.
        turn_count: Caller turns answered by the agent.
        last_turn_latency_ms: From the caller's words to the agent's reply, last turn.
        barge_ins: Times the caller interrupted the bot (stream mode).
        recordings: URLs of finished recordings.
        pending: Actions queued for a live markup call, served when the carrier fetches them.
        heard_event: The webhook whose caller words were stored last, so its retry after a
            crash does not store them twice.
        thinking: The turn the agent is answering after its webhook was given the holding
            line, or None.
        pending_fetches: Pending-action URLs handed out so far; each carries the next number, so
            no fetch is taken for a carrier's retry of an earlier one.
        metadata: Free-form JSON-serializable extras from the API caller.
    """

    call_id: str
    provider: str
    direction: Literal["inbound", "outbound"]
    state: CallState = CallState.INITIATED
    provider_call_id: str | None = None
    from_number: str | None = None
    to_number: str | None = None
    mode: Literal["conversation", "notify"] = "conversation"
    media: Literal["markup", "stream"] = "markup"
    message: str | None = None
    created_at: float
    answered_at: float | None = None
    ended_at: float | None = None
    end_reason: str | None = None
    no_input_count: int = 0
    transcript: list[Turn] = msgspec.field(default_factory=list)
    provisional_id: bool = False
    answered_by: str | None = None
    gather_turn: int = 0
    turn_count: int = 0
    last_turn_latency_ms: float | None = None
    barge_ins: int = 0
    recordings: list[str] = msgspec.field(default_factory=list)
    pending: list[Action] = msgspec.field(default_factory=list)
    heard_event: str | None = None
    thinking: Thinking | None = None
    pending_fetches: int = 0
    metadata: dict[str, Any] = msgspec.field(default_factory=dict)

    @property
    def terminal(self) -> bool:
        """True once the call has ended, whatever the reason."""
        return self.state in TERMINAL_STATES


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


_ENCODER: Final = msgspec.json.Encoder()
_DECODER: Final = msgspec.json.Decoder(CallRecord)


def encode_record(record: CallRecord) -> bytes:
    """Serialize a record; backends share this so they round-trip values identically."""
    return _ENCODER.encode(record)


def decode_record(data: bytes | str) -> CallRecord:
    """Deserialize and validate a record written by :func:`encode_record`."""
    return _DECODER.decode(data)


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
