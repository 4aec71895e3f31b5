"""Several store writes committed as one transaction: what one conversation turn changes.

A markup turn changes the call record, its transcript and the cached webhook answer. Written one
call at a time, each is its own transaction, and on SQLite each commit costs a trip through the
WAL. A :class:`WriteBatch` queues those writes and the store applies them together when the
``async with`` block ends: all of them or, if anything fails, none.

Usage, from code that holds the call's lock::

    async with store.transaction() as batch:
        batch.append_turn(record.call_id, Turn(speaker="user", text=text, at=now))
        batch.save(record)
        batch.set_reply(event_id, "application/xml", body)

Nothing is written until the block exits; reads inside the block see the store as it was. A
batch with nothing queued writes nothing.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from types import TracebackType

from telephony.providers import Turn

from .record import CallRecord, decode_record, encode_record

__all__ = [
    "AppendTurn",
    "BatchOperation",
    "SaveRecord",
    "SetReply",
    "WriteBatch",
]


@dataclass(frozen=True, slots=True)
class SaveRecord:
    """Insert or replace a whole record, as :meth:`CallStore.save`.

    Both fields are taken when the write is queued, so changes made to the caller's record
    afterwards are not written. ``record`` is a private copy decoded from ``encoded``.
    """

    record: CallRecord
    encoded: bytes


@dataclass(frozen=True, slots=True)
class AppendTurn:
    """Append a turn to a stored call's transcript, as :meth:`CallStore.append_turn`."""

    call_id: str
    turn: Turn


@dataclass(frozen=True, slots=True)
class SetReply:
    """Cache a webhook's answer, as :meth:`CallStore.set_reply`."""

    event_id: str
    content_type: str
    body: bytes


BatchOperation = SaveRecord | AppendTurn | SetReply
"""One queued write; backends apply them in the order they were queued."""


class WriteBatch:
    """Writes queued in memory and committed together by the store that made the batch.

    Callers get one from :meth:`CallStore.transaction`. A store builds it with its own commit
    function, which receives the queued operations in order and must apply all of them in one
    transaction or none (a custom store can reuse the dataclasses above to ``match`` on them).

    The whole batch is one transaction. If any operation fails (an :meth:`append_turn` to an
    unknown call raises :class:`KeyError`), the error leaves the ``async with`` block and nothing
    in the batch is written. If the block itself raises, the batch is dropped unwritten.

    Args:
        commit: The store's function that applies the operations in one transaction; it is
            called once, when the block ends without error and something was queued.
    """

    __slots__ = ("_commit", "_done", "operations")

    def __init__(self, commit: Callable[[tuple[BatchOperation, ...]], Awaitable[None]]) -> None:
        self._commit = commit
        self._done = False
        self.operations: list[BatchOperation] = []

    def _queue(self, operation: BatchOperation) -> None:
        if self._done:
            raise RuntimeError("this batch has already been committed or dropped")
        self.operations.append(operation)

    def save(self, record: CallRecord) -> None:
        """Queue a whole-record write (a snapshot: later changes to ``record`` are not included)."""
        encoded = encode_record(record)
        self._queue(SaveRecord(record=decode_record(encoded), encoded=encoded))

    def append_turn(self, call_id: str, turn: Turn) -> None:
        """Queue one transcript line, applied to the record as it stands at that point in the batch.

        After a :meth:`save` of the same call in this batch, the turn is added to the saved record.
        """
        self._queue(AppendTurn(call_id=call_id, turn=turn))

    def set_reply(self, event_id: str, content_type: str, body: bytes) -> None:
        """Queue the cached answer to a webhook (last write wins, as in the store)."""
        self._queue(SetReply(event_id=event_id, content_type=content_type, body=bytes(body)))

    async def __aenter__(self) -> WriteBatch:
        if self._done:
            raise RuntimeError("a batch can be used for one transaction only")
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._done = True
        if exc_type is None and self.operations:
            await self._commit(tuple(self.operations))
