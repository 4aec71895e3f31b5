"""An in-process call store for tests, demos and single-shot runs.

Nothing survives the process. Records are copied through the same JSON codec the SQLite
backend uses, so code that passes against this store behaves the same against the durable one.
"""

from __future__ import annotations

import hmac
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from telephony.providers import Turn

from .base import (
    ACTIVE_STATES,
    DEFAULT_CLAIM_LEASE_SECONDS,
    DEFAULT_EVENT_RETENTION_SECONDS,
    CallRecord,
    ClaimOutcome,
    decode_record,
    encode_record,
    hash_token,
    new_token,
)
from .batch import (
    AppendTurn,
    BatchOperation,
    SaveRecord,
    SetReply,
    WriteBatch,
)

__all__ = ["MemoryCallStore"]


@dataclass(slots=True)
class _Claim:
    claimed_at: float
    lease_until: float
    owner: str


@dataclass(slots=True)
class _Token:
    call_id: str
    expires_at: float
    consumed: bool = False


def _copy(record: CallRecord) -> CallRecord:
    """Detach a record from its caller (and validate it) via the shared codec."""
    return decode_record(encode_record(record))


class MemoryCallStore:
    """A :class:`~telephony.store.CallStore` held in dictionaries.

    No method awaits between reading and writing, so each is atomic on the event loop
    without a lock.

    Args:
        clock: Wall-clock source; injectable so tests can move time.
        event_retention_seconds: How long claimed event ids and cached replies are kept.
    """

    def __init__(
        self,
        *,
        clock: Callable[[], float] = time.time,
        event_retention_seconds: float = DEFAULT_EVENT_RETENTION_SECONDS,
    ) -> None:
        self._clock = clock
        self._retention = event_retention_seconds
        self._calls: dict[str, CallRecord] = {}
        self._order: dict[str, int] = {}
        self._next_order = 0
        # Call ids per carrier call id: nearly always one, so a list (a set of one costs 3x as much).
        self._by_provider: dict[tuple[str, str], list[str]] = {}
        # Insertion order approximates claim time, so pruning can stop at the first fresh entry.
        self._events: OrderedDict[str, _Claim] = OrderedDict()
        self._replies: OrderedDict[str, tuple[str, bytes, float]] = OrderedDict()
        self._tokens: dict[str, _Token] = {}
        self._closed = False

    def _check_open(self) -> None:
        if self._closed:
            raise RuntimeError("call store is closed")

    # ------------------------------------------------------------------ records

    def _put(self, record: CallRecord) -> None:
        old = self._calls.get(record.call_id)
        if old is not None and old.provider_call_id is not None:
            self._unindex(old.provider, old.provider_call_id, old.call_id)
        if record.call_id not in self._order:
            self._order[record.call_id] = self._next_order
            self._next_order += 1
        self._calls[record.call_id] = record
        if record.provider_call_id is not None:
            ids = self._by_provider.setdefault((record.provider, record.provider_call_id), [])
            if record.call_id not in ids:
                ids.append(record.call_id)

    def _unindex(self, provider: str, provider_call_id: str, call_id: str) -> None:
        ids = self._by_provider.get((provider, provider_call_id))
        if ids is not None and call_id in ids:
            ids.remove(call_id)
            if not ids:
                del self._by_provider[(provider, provider_call_id)]

    def _newest_first(self, record: CallRecord) -> tuple[float, int]:
        return (record.created_at, self._order[record.call_id])

    async def create(self, record: CallRecord) -> None:
        """Store a new call; raise :class:`ValueError` on a duplicate id."""
        self._check_open()
        if record.call_id in self._calls:
            raise ValueError(f"call {record.call_id!r} already exists")
        self._put(_copy(record))

    async def get(self, call_id: str) -> CallRecord | None:
        """A private copy of the call, or None."""
        self._check_open()
        record = self._calls.get(call_id)
        return None if record is None else _copy(record)

    async def get_by_provider_id(self, provider: str, provider_call_id: str) -> CallRecord | None:
        """The newest call the carrier knows by ``provider_call_id``."""
        self._check_open()
        ids = self._by_provider.get((provider, provider_call_id))
        if not ids:
            return None
        newest = max((self._calls[i] for i in ids), key=self._newest_first)
        return _copy(newest)

    async def save(self, record: CallRecord) -> None:
        """Insert or replace the whole record."""
        self._check_open()
        self._put(_copy(record))

    async def delete(self, call_id: str) -> None:
        """Forget the call and its tokens."""
        self._check_open()
        record = self._calls.pop(call_id, None)
        self._order.pop(call_id, None)
        if record is not None and record.provider_call_id is not None:
            self._unindex(record.provider, record.provider_call_id, call_id)
        for key in [k for k, token in self._tokens.items() if token.call_id == call_id]:
            del self._tokens[key]

    async def append_turn(self, call_id: str, turn: Turn) -> CallRecord:
        """Append one turn; raise :class:`KeyError` for an unknown call."""
        self._check_open()
        record = self._calls.get(call_id)
        if record is None:
            raise KeyError(call_id)
        record.transcript.append(turn)
        return _copy(record)

    def transaction(self) -> WriteBatch:
        """A batch of writes applied together, with no await in between, when its block ends."""
        self._check_open()
        return WriteBatch(self._commit)

    def _check_batch(self, operations: tuple[BatchOperation, ...]) -> None:
        """Raise what the batch would raise, before anything is changed, so a failure writes nothing."""
        known = set(self._calls)
        for operation in operations:
            match operation:
                case SaveRecord(record=record):
                    known.add(record.call_id)
                case AppendTurn(call_id=call_id) if call_id not in known:
                    raise KeyError(call_id)

    async def _commit(self, operations: tuple[BatchOperation, ...]) -> None:
        self._check_open()
        now = self._clock()
        self._check_batch(operations)
        for operation in operations:
            match operation:
                case SaveRecord(encoded=encoded):
                    self._put(decode_record(encoded))  # the batch's copy stays the batch's
                case AppendTurn(call_id=call_id, turn=turn):
                    self._calls[call_id].transcript.append(turn)
                case SetReply(event_id=event_id, content_type=content_type, body=body):
                    self._set_reply(event_id, content_type, body, now)

    async def list_calls(self, *, active_only: bool = False, limit: int = 100) -> list[CallRecord]:
        """Newest calls first, optionally only those still live."""
        self._check_open()
        if limit <= 0:
            return []
        records = [r for r in self._calls.values() if not active_only or r.state in ACTIVE_STATES]
        records.sort(key=self._newest_first, reverse=True)
        return [_copy(r) for r in records[:limit]]

    async def count_active(self, direction: str | None = None) -> int:
        """Live calls, optionally of one direction."""
        self._check_open()
        return sum(
            1
            for r in self._calls.values()
            if r.state in ACTIVE_STATES and (direction is None or r.direction == direction)
        )

    # ------------------------------------------------------------------ webhook dedupe

    def _prune_events(self, now: float) -> None:
        cutoff = now - self._retention
        while self._events and next(iter(self._events.values())).claimed_at < cutoff:
            self._events.popitem(last=False)
        while self._replies and next(iter(self._replies.values()))[2] < cutoff:
            self._replies.popitem(last=False)

    def _set_reply(self, event_id: str, content_type: str, body: bytes, now: float) -> None:
        self._replies[event_id] = (content_type, bytes(body), now)
        self._replies.move_to_end(event_id)
        # The answer marks the event done, and every claim method looks at it first: the claim
        # is spent. Kept, it would hold its lease and owner for the whole retention window.
        self._events.pop(event_id, None)

    async def claim_event(
        self,
        event_id: str,
        call_id: str | None,
        *,
        lease_seconds: float = DEFAULT_CLAIM_LEASE_SECONDS,
        owner: str = "",
    ) -> ClaimOutcome:
        """Done if answered, running while another lease lasts, else claimed for ``lease_seconds``."""
        self._check_open()
        now = self._clock()
        self._prune_events(now)
        if event_id in self._replies:
            return ClaimOutcome.DONE
        held = self._events.get(event_id)
        if held is not None and held.lease_until > now:
            return ClaimOutcome.RUNNING
        self._events[event_id] = _Claim(claimed_at=now, lease_until=now + lease_seconds, owner=owner)
        self._events.move_to_end(event_id)
        return ClaimOutcome.WON

    async def renew_event(self, event_id: str, lease_seconds: float, *, owner: str = "") -> bool:
        """Extend ``owner``'s unanswered claim."""
        self._check_open()
        held = self._events.get(event_id)
        if held is None or held.owner != owner or event_id in self._replies:
            return False
        held.lease_until = self._clock() + lease_seconds
        return True

    async def release_event(self, event_id: str, *, owner: str | None = None) -> None:
        """Forget a claim (``owner``'s only, when given)."""
        self._check_open()
        held = self._events.get(event_id)
        if held is not None and (owner is None or held.owner == owner):
            del self._events[event_id]

    async def set_reply(self, event_id: str, content_type: str, body: bytes) -> None:
        """Cache the answer given to ``event_id``, which marks it done."""
        self._check_open()
        self._set_reply(event_id, content_type, body, self._clock())

    async def get_reply(self, event_id: str) -> tuple[str, bytes] | None:
        """The cached answer for ``event_id``, if still kept."""
        self._check_open()
        cached = self._replies.get(event_id)
        return None if cached is None else (cached[0], cached[1])

    # ------------------------------------------------------------------ stream tokens

    async def issue_token(self, call_id: str, ttl_seconds: float) -> str:
        """Mint a single-use token for ``call_id`` valid for ``ttl_seconds``."""
        self._check_open()
        if ttl_seconds <= 0:
            raise ValueError("ttl_seconds must be positive")
        now = self._clock()
        for key in [k for k, t in self._tokens.items() if t.expires_at <= now]:
            del self._tokens[key]
        token = new_token()
        self._tokens[hash_token(token)] = _Token(call_id=call_id, expires_at=now + ttl_seconds)
        return token

    async def consume_token(self, token: str, call_id: str) -> bool:
        """Spend ``token`` if it is unused, unexpired and bound to ``call_id``."""
        self._check_open()
        entry = self._tokens.get(hash_token(token))
        if entry is None or entry.consumed or self._clock() >= entry.expires_at:
            return False
        if not hmac.compare_digest(entry.call_id.encode(), call_id.encode()):
            return False
        entry.consumed = True
        return True

    async def close(self) -> None:
        """Refuse further use; the data goes with the object."""
        self._closed = True
