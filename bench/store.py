"""Store writes of one markup turn: one call each, against one-transaction batches, on SQLite.

A markup turn once took seven store calls, each its own transaction. A
:class:`~telephony.store.WriteBatch` commits several writes in one. These rows time the same
writes, on the default SQLite store, three ways:

- seven calls (the old engine);
- the claim, then two batches: the caller's words before the agent is asked (persist before
  acting), then the reply, the state and the stored answer (what the engine does now);
- the claim, then one batch (only if the engine accepted losing the caller's words when it
  crashes mid-turn).

The claim stays a write of its own: it must be committed before the turn runs, so that a copy of
the webhook waits for it. Each repeat runs ``TURNS`` turns on a call created beforehand, so
transcripts stay short.
"""

from __future__ import annotations

import asyncio
import tempfile
import time
from pathlib import Path

from telephony.providers import Turn
from telephony.store import CallRecord, SqliteCallStore

from ._harness import REPEATS, WARMUP, Result, compare, on_loop

TURNS = 20
REPLY = ("application/xml", b"<Response><Gather><Say>Noted.</Say></Gather></Response>")


class _Turns:
    """Plays turns against one store, each repeat on a fresh pre-created call."""

    def __init__(self, store: SqliteCallStore, prefix: str, calls: int) -> None:
        self.store = store
        self._prefix = prefix
        self._ids = [f"{prefix}-{i}" for i in range(calls)]
        self._next = 0
        self._events = 0

    async def create_calls(self) -> None:
        for call_id in self._ids:
            await self.store.create(
                CallRecord(call_id=call_id, provider="twilio", direction="inbound", created_at=time.time())
            )

    def _call(self) -> CallRecord:
        call_id = self._ids[self._next]
        self._next += 1
        return CallRecord(call_id=call_id, provider="twilio", direction="inbound", created_at=1.0)

    def _event(self) -> str:
        self._events += 1
        return f"{self._prefix}-evt-{self._events}"

    async def separate(self) -> None:
        store, record = self.store, self._call()
        for turn in range(TURNS):
            event = self._event()
            await store.claim_event(event, record.call_id)
            # As the engine does: keep the stored transcript, so the saves below do not drop it.
            user = Turn(speaker="user", text=f"line {turn}", at=1.0)
            record.transcript = (await store.append_turn(record.call_id, user)).transcript
            record.state = "listening"
            await store.save(record)
            bot = Turn(speaker="bot", text="Noted.", at=1.0)
            record.transcript = (await store.append_turn(record.call_id, bot)).transcript
            record.state = "speaking"
            await store.save(record)
            record.metadata["gatherSeq"] = turn
            await store.save(record)
            await store.set_reply(event, *REPLY)

    async def two_batches(self) -> None:
        store, record = self.store, self._call()
        for turn in range(TURNS):
            event = self._event()
            await store.claim_event(event, record.call_id)
            async with store.transaction() as batch:
                record.transcript.append(Turn(speaker="user", text=f"line {turn}", at=1.0))
                record.state = "listening"
                batch.save(record)
            async with store.transaction() as batch:
                record.transcript.append(Turn(speaker="bot", text="Noted.", at=1.0))
                record.state = "speaking"
                record.metadata["gatherSeq"] = turn
                batch.save(record)
                batch.set_reply(event, *REPLY)

    async def one_batch(self) -> None:
        store, record = self.store, self._call()
        for turn in range(TURNS):
            event = self._event()
            await store.claim_event(event, record.call_id)
            async with store.transaction() as batch:
                record.transcript.append(Turn(speaker="user", text=f"line {turn}", at=1.0))
                record.transcript.append(Turn(speaker="bot", text="Noted.", at=1.0))
                record.state = "speaking"
                record.metadata["gatherSeq"] = turn
                batch.save(record)
                batch.set_reply(event, *REPLY)


def run() -> list[Result]:
    """A turn's writes on the default SQLite store: seven calls against two batches and one."""
    loop = asyncio.new_event_loop()
    calls = (WARMUP + REPEATS) * 2
    try:
        with tempfile.TemporaryDirectory(prefix="telephony-bench-") as directory:
            results: list[Result] = []
            for label, batched in (("2 batches", "two_batches"), ("1 batch", "one_batch")):
                store = SqliteCallStore(Path(directory) / batched)
                separate = _Turns(store, "separate", calls)
                grouped = _Turns(store, "grouped", calls)
                loop.run_until_complete(separate.create_calls())
                loop.run_until_complete(grouped.create_calls())
                results.append(
                    compare(
                        f"store (sqlite): a turn's 7 writes as {label}, vs 7 calls",
                        on_loop(loop, getattr(grouped, batched)),
                        on_loop(loop, separate.separate),
                        ops=TURNS,
                    )
                )
                loop.run_until_complete(store.close())
            return results
    finally:
        loop.close()
