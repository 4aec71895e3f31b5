"""The call-store contract, run against every backend so they stay interchangeable."""

from __future__ import annotations

import asyncio
import sqlite3
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from telephony.providers import Turn
from telephony.store import (
    TERMINAL_STATES,
    CallRecord,
    CallStore,
    ClaimOutcome,
    MemoryCallStore,
    SqliteCallStore,
    open_store,
)
from telephony.store.leases import keep_claim
from telephony.store.redis import RedisCallStore

RETENTION = 100.0


class FakeClock:
    """A wall clock the test moves by hand."""

    def __init__(self, now: float = 1_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def make_store(kind: str, directory: Path, clock: FakeClock, redis_url: str | None = None) -> CallStore:
    if kind == "memory":
        return MemoryCallStore(clock=clock, event_retention_seconds=RETENTION)
    if kind == "redis":
        assert redis_url is not None
        return RedisCallStore(redis_url, clock=clock, event_retention_seconds=RETENTION)
    return SqliteCallStore(directory, clock=clock, event_retention_seconds=RETENTION)


@pytest.fixture(params=["memory", "sqlite", "redis"])
async def store(request: pytest.FixtureRequest, tmp_path: Path, clock: FakeClock) -> AsyncIterator[CallStore]:
    redis_url = request.getfixturevalue("redis_url") if request.param == "redis" else None
    s = make_store(request.param, tmp_path / "store", clock, redis_url)
    yield s
    await s.close()


def record(
    call_id: str,
    *,
    created_at: float = 1.0,
    direction: str = "outbound",
    state: str = "initiated",
    provider_call_id: str | None = None,
) -> CallRecord:
    return CallRecord(
        call_id=call_id,
        provider="twilio",
        direction=direction,  # type: ignore[arg-type]
        state=state,  # type: ignore[arg-type]
        provider_call_id=provider_call_id,
        from_number="+15550001111",
        to_number="+15550002222",
        created_at=created_at,
    )


def turn(text: str, at: float = 1.0, speaker: str = "user") -> Turn:
    return Turn(speaker=speaker, text=text, at=at)  # type: ignore[arg-type]


# ---------------------------------------------------------------------- records


async def test_store_satisfies_protocol(store: CallStore) -> None:
    assert isinstance(store, CallStore)


async def test_create_and_get_round_trip(store: CallStore) -> None:
    original = record("c1", provider_call_id="CA1")
    original.metadata["campaign"] = {"id": 7, "tags": ["a", "b"]}
    original.message = "Your table is ready."
    await store.create(original)

    loaded = await store.get("c1")
    assert loaded == original
    assert loaded is not original
    assert await store.get("missing") is None


async def test_duplicate_create_raises(store: CallStore) -> None:
    await store.create(record("c1"))
    with pytest.raises(ValueError):
        await store.create(record("c1", created_at=2.0))
    loaded = await store.get("c1")
    assert loaded is not None and loaded.created_at == 1.0


async def test_returned_records_are_private_copies(store: CallStore) -> None:
    await store.create(record("c1"))
    loaded = await store.get("c1")
    assert loaded is not None
    loaded.state = "active"
    loaded.transcript.append(turn("not saved"))
    again = await store.get("c1")
    assert again is not None
    assert again.state == "initiated" and again.transcript == []


async def test_get_by_provider_id(store: CallStore) -> None:
    await store.create(record("c1", provider_call_id="CA1"))
    await store.create(record("c2"))

    found = await store.get_by_provider_id("twilio", "CA1")
    assert found is not None and found.call_id == "c1"
    assert await store.get_by_provider_id("local", "CA1") is None
    assert await store.get_by_provider_id("twilio", "CA2") is None

    # The carrier id usually arrives after creation; save must index it.
    c2 = await store.get("c2")
    assert c2 is not None
    c2.provider_call_id = "CA2"
    await store.save(c2)
    found = await store.get_by_provider_id("twilio", "CA2")
    assert found is not None and found.call_id == "c2"

    # Re-keying drops the old index entry.
    c2.provider_call_id = "CA3"
    await store.save(c2)
    assert await store.get_by_provider_id("twilio", "CA2") is None
    found = await store.get_by_provider_id("twilio", "CA3")
    assert found is not None and found.call_id == "c2"


async def test_save_upserts_whole_record(store: CallStore) -> None:
    fresh = record("c1")
    await store.save(fresh)
    assert await store.get("c1") == fresh

    fresh.state = "completed"
    fresh.end_reason = "completed"
    fresh.ended_at = 9.0
    fresh.no_input_count = 2
    await store.save(fresh)
    loaded = await store.get("c1")
    assert loaded == fresh
    assert loaded is not None and loaded.terminal


async def test_append_turn_keeps_order(store: CallStore) -> None:
    await store.create(record("c1"))
    first = await store.append_turn("c1", turn("hello", 1.0, "bot"))
    assert [t.text for t in first.transcript] == ["hello"]
    await store.append_turn("c1", turn("hi there", 2.0))
    last = await store.append_turn("c1", turn("how can I help?", 3.0, "bot"))

    expected = [turn("hello", 1.0, "bot"), turn("hi there", 2.0), turn("how can I help?", 3.0, "bot")]
    assert last.transcript == expected
    loaded = await store.get("c1")
    assert loaded is not None and loaded.transcript == expected


async def test_append_turn_unknown_call_raises(store: CallStore) -> None:
    with pytest.raises(KeyError):
        await store.append_turn("missing", turn("hello"))


async def test_concurrent_appends_lose_nothing(store: CallStore) -> None:
    await store.create(record("c1"))
    await asyncio.gather(*(store.append_turn("c1", turn(f"line {i}", float(i))) for i in range(25)))
    loaded = await store.get("c1")
    assert loaded is not None
    assert sorted(t.text for t in loaded.transcript) == sorted(f"line {i}" for i in range(25))


async def test_list_calls_newest_first(store: CallStore) -> None:
    await store.create(record("old", created_at=1.0))
    await store.create(record("new", created_at=3.0, state="completed"))
    await store.create(record("mid", created_at=2.0, state="active"))

    assert [r.call_id for r in await store.list_calls()] == ["new", "mid", "old"]
    assert [r.call_id for r in await store.list_calls(limit=2)] == ["new", "mid"]
    assert await store.list_calls(limit=0) == []
    assert [r.call_id for r in await store.list_calls(active_only=True)] == ["mid", "old"]
    assert [r.call_id for r in await store.list_calls(active_only=True, limit=1)] == ["mid"]


async def test_list_calls_ties_break_by_insertion(store: CallStore) -> None:
    for call_id in ("a", "b", "c"):
        await store.create(record(call_id, created_at=5.0))
    assert [r.call_id for r in await store.list_calls()] == ["c", "b", "a"]


async def test_count_active_by_direction(store: CallStore) -> None:
    await store.create(record("o1", direction="outbound", state="ringing"))
    await store.create(record("o2", direction="outbound", state="speaking"))
    await store.create(record("o3", direction="outbound", state="hangup-bot"))
    await store.create(record("i1", direction="inbound", state="listening"))
    await store.create(record("i2", direction="inbound", state="voicemail"))

    assert await store.count_active() == 3
    assert await store.count_active("outbound") == 2
    assert await store.count_active("inbound") == 1

    ended = await store.get("o1")
    assert ended is not None
    ended.state = "no-answer"
    await store.save(ended)
    assert await store.count_active("outbound") == 1


async def test_every_terminal_state_is_inactive(store: CallStore) -> None:
    for i, state in enumerate(sorted(TERMINAL_STATES)):
        await store.create(record(f"c{i}", state=state))
    assert await store.count_active() == 0
    assert await store.list_calls(active_only=True) == []


# ---------------------------------------------------------------------- one-transaction batches


async def test_batch_writes_everything_at_block_end(store: CallStore) -> None:
    await store.create(record("c1"))
    current = await store.get("c1")
    assert current is not None
    current.state = "listening"
    current.metadata["gatherSeq"] = 2

    async with store.transaction() as batch:
        batch.append_turn("c1", turn("hi", 1.0))
        batch.save(current)
        batch.append_turn("c1", turn("hello, how can I help?", 2.0, "bot"))
        batch.set_reply("evt-1", "application/xml", b"<Response/>")
        # Nothing is written until the block ends.
        unchanged = await store.get("c1")
        assert unchanged is not None and unchanged.state == "initiated" and unchanged.transcript == []
        assert await store.get_reply("evt-1") is None

    loaded = await store.get("c1")
    assert loaded is not None
    assert loaded.state == "listening" and loaded.metadata == {"gatherSeq": 2}
    # The save replaced the record (whose copy had no turns); later appends build on it.
    assert [t.text for t in loaded.transcript] == ["hello, how can I help?"]
    assert await store.get_reply("evt-1") == ("application/xml", b"<Response/>")
    assert await store.claim_event("evt-1", "c1") is ClaimOutcome.DONE


async def test_batch_can_create_a_call_and_index_its_carrier_id(store: CallStore) -> None:
    async with store.transaction() as batch:
        batch.save(record("c1", provider_call_id="CA1"))
        batch.append_turn("c1", turn("hello", 1.0, "bot"))
    found = await store.get_by_provider_id("twilio", "CA1")
    assert found is not None and [t.text for t in found.transcript] == ["hello"]
    assert await store.count_active() == 1


async def test_batch_saves_a_snapshot_taken_when_queued(store: CallStore) -> None:
    mine = record("c1")
    async with store.transaction() as batch:
        batch.save(mine)
        mine.state = "completed"
    loaded = await store.get("c1")
    assert loaded is not None and loaded.state == "initiated"


async def test_failed_operation_writes_nothing(store: CallStore) -> None:
    await store.create(record("c1"))
    changed = record("c1", state="active")
    with pytest.raises(KeyError):
        async with store.transaction() as batch:
            batch.save(changed)
            batch.set_reply("evt-1", "text/plain", b"ok")
            batch.append_turn("missing", turn("lost"))
    loaded = await store.get("c1")
    assert loaded is not None and loaded.state == "initiated"
    assert await store.get_reply("evt-1") is None
    assert await store.claim_event("evt-1", "c1") is ClaimOutcome.WON


async def test_error_inside_the_block_drops_the_batch(store: CallStore) -> None:
    with pytest.raises(LookupError):
        async with store.transaction() as batch:
            batch.save(record("c1"))
            raise LookupError("agent failed")
    assert await store.get("c1") is None


async def test_batch_is_single_use(store: CallStore) -> None:
    async with store.transaction() as batch:
        pass  # an empty batch writes nothing and is fine
    with pytest.raises(RuntimeError):
        batch.save(record("c1"))
    with pytest.raises(RuntimeError):
        async with batch:
            pass
    assert await store.get("c1") is None


async def test_concurrent_batches_and_appends_lose_nothing(store: CallStore) -> None:
    await store.create(record("c1"))

    async def via_batch(i: int) -> None:
        async with store.transaction() as batch:
            batch.append_turn("c1", turn(f"batch {i}", float(i)))
            batch.set_reply(f"evt-{i}", "text/plain", str(i).encode())

    await asyncio.gather(
        *(via_batch(i) for i in range(15)),
        *(store.append_turn("c1", turn(f"plain {i}", float(i))) for i in range(15)),
        *(store.get("c1") for _ in range(15)),
    )
    loaded = await store.get("c1")
    assert loaded is not None
    expected = [f"batch {i}" for i in range(15)] + [f"plain {i}" for i in range(15)]
    assert sorted(t.text for t in loaded.transcript) == sorted(expected)
    assert await store.get_reply("evt-14") == ("text/plain", b"14")


async def test_closed_store_refuses_batches(store: CallStore) -> None:
    await store.close()
    with pytest.raises(RuntimeError):
        async with store.transaction() as batch:
            batch.save(record("c1"))


# ---------------------------------------------------------------------- webhook dedupe


LEASE = 6.0


async def test_a_claim_is_held_while_its_lease_lasts(store: CallStore, clock: FakeClock) -> None:
    assert await store.claim_event("evt-1", "c1", lease_seconds=LEASE) is ClaimOutcome.WON
    assert await store.claim_event("evt-1", "c1", lease_seconds=LEASE) is ClaimOutcome.RUNNING
    assert await store.claim_event("evt-1", None) is ClaimOutcome.RUNNING
    assert await store.claim_event("evt-2", None) is ClaimOutcome.WON
    clock.now += LEASE - 1
    assert await store.claim_event("evt-1", "c1") is ClaimOutcome.RUNNING


async def test_a_renewed_lease_outlives_its_first_term(store: CallStore, clock: FakeClock) -> None:
    assert await store.claim_event("evt-1", "c1", lease_seconds=LEASE) is ClaimOutcome.WON
    for _ in range(5):
        clock.now += LEASE - 1
        assert await store.renew_event("evt-1", LEASE) is True
    assert await store.claim_event("evt-1", "c1", lease_seconds=LEASE) is ClaimOutcome.RUNNING
    assert await store.renew_event("never-claimed", LEASE) is False


async def test_an_unrenewed_lease_runs_out_and_the_claim_can_be_taken_over(
    store: CallStore, clock: FakeClock
) -> None:
    # The handler died mid-turn: its lease is not renewed, and the carrier's retry takes over.
    assert await store.claim_event("evt-1", "c1", lease_seconds=LEASE) is ClaimOutcome.WON
    clock.now += LEASE + 0.5
    assert await store.claim_event("evt-1", "c1", lease_seconds=LEASE) is ClaimOutcome.WON
    assert await store.claim_event("evt-1", "c1", lease_seconds=LEASE) is ClaimOutcome.RUNNING


async def test_a_stored_reply_marks_the_event_done(store: CallStore, clock: FakeClock) -> None:
    assert await store.claim_event("evt-1", "c1", lease_seconds=LEASE) is ClaimOutcome.WON
    await store.set_reply("evt-1", "application/xml", b"<Response/>")
    assert await store.claim_event("evt-1", "c1") is ClaimOutcome.DONE
    assert await store.renew_event("evt-1", LEASE) is False
    clock.now += LEASE * 10  # done stays done after the lease, for the retention window
    assert await store.claim_event("evt-1", "c1") is ClaimOutcome.DONE
    # A reply written by a batch (a markup turn's transaction) marks it done the same way.
    assert await store.claim_event("evt-2", "c1") is ClaimOutcome.WON
    async with store.transaction() as batch:
        batch.set_reply("evt-2", "application/xml", b"<Response/>")
    assert await store.claim_event("evt-2", "c1") is ClaimOutcome.DONE


async def test_only_the_owner_renews_or_releases_a_claim(store: CallStore, clock: FakeClock) -> None:
    # A handler that stalled past its lease must not extend or drop the claim another took over.
    assert await store.claim_event("evt-1", "c1", lease_seconds=LEASE, owner="first") is ClaimOutcome.WON
    clock.now += LEASE + 1
    assert await store.claim_event("evt-1", "c1", lease_seconds=LEASE, owner="second") is ClaimOutcome.WON
    assert await store.renew_event("evt-1", LEASE, owner="first") is False
    await store.release_event("evt-1", owner="first")
    assert await store.claim_event("evt-1", "c1", owner="third") is ClaimOutcome.RUNNING
    assert await store.renew_event("evt-1", LEASE, owner="second") is True
    await store.release_event("evt-1", owner="second")
    assert await store.claim_event("evt-1", "c1", owner="third") is ClaimOutcome.WON
    await store.release_event("evt-1")  # without an owner: whoever holds it
    assert await store.claim_event("evt-1", "c1", owner="fourth") is ClaimOutcome.WON


async def test_released_event_can_be_claimed_again(store: CallStore) -> None:
    assert await store.claim_event("ev-9", None) is ClaimOutcome.WON
    await store.release_event("ev-9")
    assert await store.claim_event("ev-9", None) is ClaimOutcome.WON
    assert await store.claim_event("ev-9", None) is ClaimOutcome.RUNNING
    await store.release_event("never-claimed")  # releasing nothing is harmless


async def test_done_events_are_forgotten_after_retention(store: CallStore, clock: FakeClock) -> None:
    assert await store.claim_event("evt-1", "c1") is ClaimOutcome.WON
    await store.set_reply("evt-1", "text/plain", b"")
    clock.now += RETENTION / 2
    assert await store.claim_event("evt-1", "c1") is ClaimOutcome.DONE
    clock.now += RETENTION + 61  # past retention and the sweep interval
    assert await store.claim_event("evt-1", "c1") is ClaimOutcome.WON
    assert await store.get_reply("evt-1") is None


async def test_reply_cache(store: CallStore) -> None:
    assert await store.get_reply("evt-1") is None
    await store.set_reply("evt-1", "application/xml", b"<Response><Say>Hi</Say></Response>")
    assert await store.get_reply("evt-1") == ("application/xml", b"<Response><Say>Hi</Say></Response>")
    await store.set_reply("evt-1", "text/plain", b"")
    assert await store.get_reply("evt-1") == ("text/plain", b"")
    assert await store.get_reply("evt-2") is None


# ---------------------------------------------------------------------- stream tokens


async def test_token_is_single_use(store: CallStore) -> None:
    token = await store.issue_token("c1", ttl_seconds=60)
    assert isinstance(token, str) and len(token) >= 32
    assert await store.consume_token(token, "c1") is True
    assert await store.consume_token(token, "c1") is False


async def test_tokens_are_unique(store: CallStore) -> None:
    tokens = {await store.issue_token("c1", ttl_seconds=60) for _ in range(20)}
    assert len(tokens) == 20


async def test_token_rejects_wrong_call_and_unknown_token(store: CallStore) -> None:
    token = await store.issue_token("c1", ttl_seconds=60)
    assert await store.consume_token(token, "c2") is False
    assert await store.consume_token("not-a-token", "c1") is False
    assert await store.consume_token(token + "x", "c1") is False
    # A wrong-call attempt does not burn the token for its rightful call.
    assert await store.consume_token(token, "c1") is True


async def test_token_expires(store: CallStore, clock: FakeClock) -> None:
    token = await store.issue_token("c1", ttl_seconds=0.5)
    clock.now += 0.5
    assert await store.consume_token(token, "c1") is False

    fresh = await store.issue_token("c1", ttl_seconds=0.5)
    clock.now += 0.25
    assert await store.consume_token(fresh, "c1") is True


async def test_token_ttl_must_be_positive(store: CallStore) -> None:
    with pytest.raises(ValueError):
        await store.issue_token("c1", ttl_seconds=0)


async def test_closed_store_refuses_use(store: CallStore) -> None:
    await store.close()
    await store.close()
    with pytest.raises(RuntimeError):
        await store.get("c1")


# ---------------------------------------------------------------------- backend-specific


async def test_sqlite_survives_reopen(tmp_path: Path, clock: FakeClock) -> None:
    directory = tmp_path / "nested" / "data"
    first = SqliteCallStore(directory, clock=clock)
    await first.create(record("c1", provider_call_id="CA1", state="active"))
    await first.append_turn("c1", turn("hello", 1.0, "bot"))
    await first.append_turn("c1", turn("hi", 2.0))
    assert await first.claim_event("evt-1", "c1") is ClaimOutcome.WON
    await first.set_reply("evt-1", "application/xml", b"<Response/>")
    kept = await first.issue_token("c1", ttl_seconds=600)
    spent = await first.issue_token("c1", ttl_seconds=600)
    assert await first.consume_token(spent, "c1") is True
    await first.close()

    assert (directory / "calls.sqlite3").is_file()
    second = SqliteCallStore(directory, clock=clock)
    try:
        loaded = await second.get("c1")
        assert loaded is not None
        assert loaded.state == "active"
        assert [t.text for t in loaded.transcript] == ["hello", "hi"]
        by_provider = await second.get_by_provider_id("twilio", "CA1")
        assert by_provider == loaded
        assert await second.count_active() == 1
        assert await second.claim_event("evt-1", "c1") is ClaimOutcome.DONE
        assert await second.get_reply("evt-1") == ("application/xml", b"<Response/>")
        assert await second.consume_token(spent, "c1") is False
        assert await second.consume_token(kept, "c1") is True
    finally:
        await second.close()


def _pragma(path: Path, name: str) -> str:
    conn = sqlite3.connect(path)
    try:
        return str(conn.execute(f"PRAGMA {name}").fetchone()[0])
    finally:
        conn.close()


async def test_sqlite_runs_in_wal_mode_with_normal_sync(tmp_path: Path) -> None:
    store = SqliteCallStore(tmp_path)
    try:
        await store.create(record("c1"))
        # journal_mode is a property of the file, so a fresh connection sees it.
        assert _pragma(store.path, "journal_mode") == "wal"
        assert (tmp_path / "calls.sqlite3-wal").exists()
        # synchronous is per connection: ask the store's own.
        assert store._conn is not None
        assert store._conn.execute("PRAGMA synchronous").fetchone()[0] == 1  # NORMAL
    finally:
        await store.close()


async def test_sqlite_full_sync_on_request(tmp_path: Path) -> None:
    store = SqliteCallStore(tmp_path, synchronous="FULL")
    try:
        assert store._conn is not None
        assert store._conn.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
    finally:
        await store.close()
    with pytest.raises(ValueError):
        SqliteCallStore(tmp_path, synchronous="OFF")  # type: ignore[arg-type]


async def test_two_sqlite_stores_on_one_directory_share_calls(tmp_path: Path) -> None:
    first = SqliteCallStore(tmp_path)
    second = SqliteCallStore(tmp_path)
    try:
        await first.create(record("c1"))

        async def batched(store: SqliteCallStore, who: str, i: int) -> None:
            async with store.transaction() as batch:
                batch.append_turn("c1", turn(f"{who} {i}", float(i)))

        await asyncio.gather(
            *(batched(first, "first", i) for i in range(10)),
            *(second.append_turn("c1", turn(f"second {i}", float(i))) for i in range(10)),
        )
        seen_by_first = await first.get("c1")
        assert seen_by_first is not None and len(seen_by_first.transcript) == 20
        assert seen_by_first == await second.get("c1")
        assert await first.claim_event("evt-1", "c1") is ClaimOutcome.WON
        assert await second.claim_event("evt-1", "c1") is ClaimOutcome.RUNNING
    finally:
        await first.close()
        await second.close()


_OTHER_PROCESS = """
import asyncio, os, signal, sys
from pathlib import Path
from telephony.providers import Turn
from telephony.store import SqliteCallStore

async def main() -> None:
    store = SqliteCallStore(Path(sys.argv[1]))
    for i in range(int(sys.argv[2])):
        async with store.transaction() as batch:
            batch.append_turn("c1", Turn(speaker="user", text=f"other {i}", at=float(i)))
            batch.set_reply(f"other-evt-{i}", "text/plain", b"ok")
    if sys.argv[3] == "kill":
        os.kill(os.getpid(), signal.SIGKILL)  # no close, no checkpoint: the WAL holds the commits
    await store.close()

asyncio.run(main())
"""


async def _other_process(directory: Path, turns: int, ending: str) -> int:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-c", _OTHER_PROCESS, str(directory), str(turns), ending
    )
    return await process.wait()


async def test_sqlite_shared_with_another_process(tmp_path: Path) -> None:
    store = SqliteCallStore(tmp_path)
    try:
        await store.create(record("c1"))
        other = asyncio.ensure_future(_other_process(tmp_path, 20, "close"))
        # Keep writing until the other process is done, so the two really overlap.
        mine = 0
        while mine < 20 or (not other.done() and mine < 1000):
            await store.append_turn("c1", turn(f"mine {mine}", float(mine)))
            mine += 1
            await asyncio.sleep(0.005)  # paced, so the transcript stays small while we wait
        assert await other == 0
        loaded = await store.get("c1")
        assert loaded is not None
        texts = sorted(t.text for t in loaded.transcript)
        assert texts == sorted([f"mine {i}" for i in range(mine)] + [f"other {i}" for i in range(20)])
        assert await store.claim_event("other-evt-19", "c1") is ClaimOutcome.DONE
    finally:
        await store.close()


async def test_sqlite_commits_survive_a_killed_process(tmp_path: Path) -> None:
    setup = SqliteCallStore(tmp_path)
    await setup.create(record("c1"))
    await setup.close()

    returncode = await _other_process(tmp_path, 5, "kill")
    assert returncode == -9  # killed by SIGKILL, with its WAL left behind

    reopened = SqliteCallStore(tmp_path)
    try:
        loaded = await reopened.get("c1")
        assert loaded is not None
        assert [t.text for t in loaded.transcript] == [f"other {i}" for i in range(5)]
        assert await reopened.claim_event("other-evt-4", "c1") is ClaimOutcome.DONE
    finally:
        await reopened.close()


async def test_sqlite_upgrades_a_first_version_file(tmp_path: Path, clock: FakeClock) -> None:
    # A file written before claims had leases: its claims count as expired, its replies as done.
    conn = sqlite3.connect(tmp_path / "calls.sqlite3")
    conn.executescript(
        "CREATE TABLE events (event_id TEXT PRIMARY KEY, call_id TEXT, claimed_at REAL NOT NULL);"
        "CREATE TABLE replies (event_id TEXT PRIMARY KEY, content_type TEXT NOT NULL,"
        " body BLOB NOT NULL, stored_at REAL NOT NULL);"
        f"INSERT INTO events VALUES ('old-running', NULL, {clock.now});"
        f"INSERT INTO events VALUES ('old-done', NULL, {clock.now});"
        f"INSERT INTO replies VALUES ('old-done', 'text/plain', x'6f6b', {clock.now});"
        "PRAGMA user_version = 1;"
    )
    conn.close()
    store = SqliteCallStore(tmp_path, clock=clock)
    try:
        assert await store.claim_event("old-running", None) is ClaimOutcome.WON
        assert await store.claim_event("old-done", None) is ClaimOutcome.DONE
        assert await store.get_reply("old-done") == ("text/plain", b"ok")
    finally:
        await store.close()


async def test_sqlite_does_not_store_raw_tokens(tmp_path: Path) -> None:
    store = SqliteCallStore(tmp_path)
    token = await store.issue_token("c1", ttl_seconds=60)
    await store.close()
    assert token.encode() not in (tmp_path / "calls.sqlite3").read_bytes()


@pytest.mark.parametrize("kind", ["memory", "sqlite"])
async def test_open_store(kind: str, tmp_path: Path) -> None:
    store = open_store(kind, tmp_path / "calls")
    try:
        assert isinstance(store, MemoryCallStore if kind == "memory" else SqliteCallStore)
        await store.create(record("c1"))
        assert await store.get("c1") is not None
    finally:
        await store.close()


def test_open_store_rejects_bad_configuration() -> None:
    with pytest.raises(ValueError):
        open_store("sqlite", None)
    with pytest.raises(ValueError):
        open_store("redis", None)


async def test_sqlite_waits_for_another_writer_without_blocking_the_event_loop(tmp_path: Path) -> None:
    store = SqliteCallStore(tmp_path)
    record = CallRecord(call_id="c1", provider="local", direction="inbound", created_at=0.0)
    await store.create(record)
    # Another process (here: another connection) holds the write lock for a while.
    other = sqlite3.connect(tmp_path / "calls.sqlite3", isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.01)
            ticks += 1

    ticking = asyncio.create_task(ticker())
    record.message = "written after the other writer let go"
    saving = asyncio.create_task(store.save(record))
    await asyncio.sleep(0.3)
    assert not saving.done(), "the write must wait for the lock"
    assert ticks >= 10, "the event loop must keep running while the write waits"
    other.execute("COMMIT")
    other.close()
    await asyncio.wait_for(saving, 5)
    ticking.cancel()
    stored = await store.get("c1")
    assert stored is not None and stored.message == "written after the other writer let go"
    await store.close()


# ---------------------------------------------------------------------- Redis-specific


async def test_redis_key_prefixes_keep_two_apps_apart(redis_url: str) -> None:
    first, second = RedisCallStore(redis_url), RedisCallStore(redis_url, key_prefix="other:")
    try:
        await first.create(record("c1", provider_call_id="CA1", state="active"))
        assert await first.claim_event("evt-1", "c1") is ClaimOutcome.WON
        assert await second.get("c1") is None
        assert await second.get_by_provider_id("twilio", "CA1") is None
        assert await second.list_calls() == [] and await second.count_active() == 0
        assert await second.claim_event("evt-1", "c1") is ClaimOutcome.WON
        await second.create(record("c1"))  # the same id is free under another prefix
    finally:
        await first.close()
        await second.close()


async def test_two_redis_clients_share_calls_and_claims(redis_url: str) -> None:
    first, second = RedisCallStore(redis_url), RedisCallStore(redis_url)
    try:
        await first.create(record("c1"))

        async def batched(store: RedisCallStore, i: int) -> None:
            async with store.transaction() as batch:
                batch.append_turn("c1", turn(f"first {i}", float(i)))

        await asyncio.gather(
            *(batched(first, i) for i in range(10)),
            *(second.append_turn("c1", turn(f"second {i}", float(i))) for i in range(10)),
        )
        seen = await first.get("c1")
        assert seen is not None and len(seen.transcript) == 20 and seen == await second.get("c1")
        assert await first.claim_event("evt-1", "c1") is ClaimOutcome.WON
        assert await second.claim_event("evt-1", "c1") is ClaimOutcome.RUNNING
        token = await first.issue_token("c1", ttl_seconds=60)
        results = await asyncio.gather(first.consume_token(token, "c1"), second.consume_token(token, "c1"))
        assert sorted(results) == [False, True]
    finally:
        await first.close()
        await second.close()


async def test_redis_keeps_no_raw_token_and_expires_what_it_keeps(redis_url: str) -> None:
    store = RedisCallStore(redis_url, event_retention_seconds=RETENTION)
    try:
        await store.create(record("c1"))
        token = await store.issue_token("c1", ttl_seconds=60)
        assert await store.claim_event("evt-1", "c1") is ClaimOutcome.WON
        await store.set_reply("evt-2", "text/plain", b"ok")
        keys = await store.client.keys("*")
        assert not [key for key in keys if token.encode() in key]
        for key in keys:
            if await store.client.type(key) == b"hash":
                assert token.encode() not in b"".join((await store.client.hgetall(key)).values())
        ttls = {key: await store.client.pttl(key) for key in keys}
        assert 0 < ttls[b"telephony:event:evt-1"] <= RETENTION * 1000
        assert 0 < ttls[b"telephony:reply:evt-2"] <= RETENTION * 1000
        assert [key for key in keys if key.startswith(b"telephony:token:") and 0 < ttls[key] <= 61_000]
        await store.delete("c1")  # a deleted call's tokens go with it
        assert await store.consume_token(token, "c1") is False
        assert await store.client.keys("telephony:call:*") == []
    finally:
        await store.close()


async def test_open_store_redis(redis_url: str) -> None:
    store = open_store("redis", redis_url, key_prefix="opened:")
    try:
        assert isinstance(store, RedisCallStore) and store.prefix == "opened:"
        await store.create(record("c1"))
        assert await store.get("c1") is not None
    finally:
        await store.close()
    with pytest.raises(ValueError):
        open_store("redis", "/var/lib/telephony")


async def test_a_kept_claim_survives_a_failed_renewal_and_stops_once_done() -> None:
    class Flaky(MemoryCallStore):
        renewals = 0

        async def renew_event(self, event_id: str, lease_seconds: float, *, owner: str = "") -> bool:
            self.renewals += 1
            if self.renewals == 1:
                raise ConnectionError("the store blinked")
            return await super().renew_event(event_id, lease_seconds, owner=owner)

    store = Flaky()
    assert await store.claim_event("evt-1", "c1", lease_seconds=0.3, owner="me") is ClaimOutcome.WON

    async def answer_later() -> None:
        while store.renewals < 3:
            await asyncio.sleep(0.01)
        await store.set_reply("evt-1", "text/plain", b"ok")  # done: nothing left to renew

    helper = asyncio.ensure_future(answer_later())
    await asyncio.wait_for(keep_claim(store, "evt-1", "me", 0.3), timeout=10)
    await helper
    assert store.renewals >= 4, "renewed after the failure, until the claim was done"
