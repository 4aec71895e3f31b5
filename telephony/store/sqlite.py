"""A durable call store in one SQLite file.

Operations run one at a time behind a lock. WAL mode lets other processes (the CLI, an
inspector, a second server on the same directory) read while we write; writers from several
processes take turns, waiting up to ``BUSY_TIMEOUT_SECONDS`` for the write lock.

Where the work runs: at ``synchronous=NORMAL`` a WAL commit is a buffered append to the WAL
file (no disk flush, about 15 µs), cheaper than the hand-off to a worker thread (about 100 µs).
So small operations run inline on a connection that never waits: if another process holds the
write lock it fails at once (``busy_timeout=0``), and the operation is then run again in a worker
thread, where waiting for the lock does not hold up the event loop. Checkpoints, the only step
at NORMAL that flushes to disk, are turned off on that connection and run in the worker thread
every ``CHECKPOINT_EVERY`` inline operations; listing calls runs there too. At ``FULL`` every
commit flushes, so everything runs in the worker thread.

Durability: the journal is in WAL mode with ``synchronous=NORMAL`` by default. A committed
transaction survives the process being killed at any moment, because it is in the WAL file
before the commit returns. What it does not survive is the machine losing power or the OS
crashing before the WAL reaches the disk: at NORMAL, SQLite syncs the WAL only when it
checkpoints (by default when a commit leaves 1000 pages in the WAL), not at each commit. After
such a crash the database is consistent as of an earlier commit: transactions committed since
the WAL was last synced may be gone, whole and newest first, never a part of one.
``synchronous="FULL"`` syncs the WAL at every commit instead, which closes that window at the
price of one disk flush per commit.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable
from pathlib import Path
from typing import Final, Literal, TypeVar

import anyio
import anyio.to_thread

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

__all__ = ["BUSY_TIMEOUT_SECONDS", "DB_FILENAME", "SqliteCallStore", "Synchronous"]

DB_FILENAME: Final = "calls.sqlite3"

BUSY_TIMEOUT_SECONDS: Final = 10.0
"""How long a write waits for another process's write lock before failing with ``database is locked``."""

Synchronous = Literal["NORMAL", "FULL"]

PRUNE_EVERY_SECONDS: Final = 60.0
"""Expired event ids and replies are swept at most this often, not on every claim."""

CHECKPOINT_EVERY: Final = 500
"""Inline operations between two passive WAL checkpoints, run in the worker thread."""
"""SQLite's ``synchronous`` levels that keep a WAL database consistent; see the module docstring."""

_T = TypeVar("_T")

_SCHEMA_VERSION: Final = 2

_SCHEMA: Final = """
CREATE TABLE IF NOT EXISTS calls (
    call_id TEXT PRIMARY KEY,
    provider TEXT NOT NULL,
    provider_call_id TEXT,
    state TEXT NOT NULL,
    direction TEXT NOT NULL,
    created_at REAL NOT NULL,
    record BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS calls_provider_id ON calls (provider, provider_call_id);
CREATE INDEX IF NOT EXISTS calls_state ON calls (state, direction);
CREATE INDEX IF NOT EXISTS calls_created ON calls (created_at);
CREATE TABLE IF NOT EXISTS events (
    event_id TEXT PRIMARY KEY,
    call_id TEXT,
    claimed_at REAL NOT NULL,
    lease_until REAL NOT NULL DEFAULT 0,
    owner TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS events_claimed ON events (claimed_at);
CREATE TABLE IF NOT EXISTS replies (
    event_id TEXT PRIMARY KEY,
    content_type TEXT NOT NULL,
    body BLOB NOT NULL,
    stored_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS replies_stored ON replies (stored_at);
CREATE TABLE IF NOT EXISTS tokens (
    token_hash TEXT PRIMARY KEY,
    call_id TEXT NOT NULL,
    expires_at REAL NOT NULL,
    consumed_at REAL
);
CREATE INDEX IF NOT EXISTS tokens_expires ON tokens (expires_at);
"""

# Built from ACTIVE_STATES so SQL and Python agree on what "live" means.
_ACTIVE_PLACEHOLDERS: Final = ", ".join("?" for _ in ACTIVE_STATES)
_ACTIVE_PARAMS: Final = tuple(sorted(ACTIVE_STATES))

_UPSERT: Final = """
INSERT INTO calls (call_id, provider, provider_call_id, state, direction, created_at, record)
VALUES (?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (call_id) DO UPDATE SET
    provider = excluded.provider,
    provider_call_id = excluded.provider_call_id,
    state = excluded.state,
    direction = excluded.direction,
    created_at = excluded.created_at,
    record = excluded.record
"""


_SET_REPLY: Final = (
    "INSERT OR REPLACE INTO replies (event_id, content_type, body, stored_at) VALUES (?, ?, ?, ?)"
)


def _row(
    record: CallRecord, encoded: bytes | None = None
) -> tuple[str, str, str | None, str, str, float, bytes]:
    return (
        record.call_id,
        record.provider,
        record.provider_call_id,
        record.state,
        record.direction,
        record.created_at,
        encode_record(record) if encoded is None else encoded,
    )


def _is_busy(exc: sqlite3.OperationalError) -> bool:
    """True for "database is locked": another connection holds the lock we need."""
    code = getattr(exc, "sqlite_errorcode", None)
    if code is not None:
        return bool(code & 0xFF == sqlite3.SQLITE_BUSY)
    return "locked" in str(exc)


def _checkpoint(conn: sqlite3.Connection) -> None:
    """Copy committed WAL pages into the database without waiting for readers or writers."""
    conn.execute("PRAGMA wal_checkpoint(PASSIVE)")


def _in_transaction(conn: sqlite3.Connection, work: Callable[[sqlite3.Connection], _T]) -> _T:
    """Run ``work`` in a write transaction taken up front, so read-modify-write cannot race."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        result = work(conn)
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")
    return result


def _append(conn: sqlite3.Connection, call_id: str, turn: Turn) -> CallRecord:
    """Read, extend and rewrite one transcript; the caller holds a write transaction."""
    found = conn.execute("SELECT record FROM calls WHERE call_id = ?", (call_id,)).fetchone()
    if found is None:
        raise KeyError(call_id)
    record = decode_record(bytes(found[0]))
    record.transcript.append(turn)
    conn.execute("UPDATE calls SET record = ? WHERE call_id = ?", (encode_record(record), call_id))
    return record


def _prune_events(conn: sqlite3.Connection, cutoff: float) -> None:
    """Forget event ids and cached replies older than the retention window."""
    conn.execute("DELETE FROM events WHERE claimed_at < ?", (cutoff,))
    conn.execute("DELETE FROM replies WHERE stored_at < ?", (cutoff,))


def _claim(
    conn: sqlite3.Connection, event_id: str, call_id: str | None, now: float, lease_seconds: float, owner: str
) -> ClaimOutcome:
    """Run inside ``BEGIN IMMEDIATE``, so two processes cannot both win an expired lease."""
    if conn.execute("SELECT 1 FROM replies WHERE event_id = ?", (event_id,)).fetchone():
        return ClaimOutcome.DONE
    held = conn.execute("SELECT lease_until FROM events WHERE event_id = ?", (event_id,)).fetchone()
    if held is not None and held[0] > now:
        return ClaimOutcome.RUNNING
    conn.execute(
        "INSERT OR REPLACE INTO events (event_id, call_id, claimed_at, lease_until, owner)"
        " VALUES (?, ?, ?, ?, ?)",
        (event_id, call_id, now, now + lease_seconds, owner),
    )
    return ClaimOutcome.WON


class SqliteCallStore:
    """A :class:`~telephony.store.CallStore` persisted to ``<directory>/calls.sqlite3``.

    The transcript lives inside the record's JSON; :meth:`append_turn` rewrites it inside an
    immediate transaction, which is cheap at call-transcript sizes and keeps one source of truth.
    Each method is its own transaction; :meth:`transaction` groups the writes of one turn into one.

    Args:
        directory: Where the database lives; created if missing.
        clock: Wall-clock source; injectable so tests can move time.
        event_retention_seconds: How long claimed event ids and cached replies are kept.
        synchronous: ``"NORMAL"`` (default) survives a killed process, and a power cut may undo
            the latest commits; ``"FULL"`` also survives a power cut, with one disk flush per
            commit. See the module docstring.
    """

    def __init__(
        self,
        directory: Path,
        *,
        clock: Callable[[], float] = time.time,
        event_retention_seconds: float = DEFAULT_EVENT_RETENTION_SECONDS,
        synchronous: Synchronous = "NORMAL",
    ) -> None:
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        self.path = directory / DB_FILENAME
        self._clock = clock
        self._retention = event_retention_seconds
        self._lock = anyio.Lock()
        # Autocommit mode: transactions are explicit (BEGIN IMMEDIATE) where they matter.
        if synchronous not in ("NORMAL", "FULL"):
            raise ValueError(f"synchronous must be 'NORMAL' or 'FULL', not {synchronous!r}")
        conn = sqlite3.connect(
            self.path, isolation_level=None, check_same_thread=False, timeout=BUSY_TIMEOUT_SECONDS
        )
        try:
            (mode,) = conn.execute("PRAGMA journal_mode=WAL").fetchone()
            if str(mode).lower() != "wal":
                # SQLite answers with the mode it kept, e.g. on a file system without shared memory.
                raise RuntimeError(f"cannot put {self.path} in WAL mode (journal mode stays {mode!r})")
            conn.execute(f"PRAGMA synchronous={synchronous}")
            self._migrate(conn)
        except BaseException:
            conn.close()
            raise
        self._conn: sqlite3.Connection | None = conn
        self._inline: sqlite3.Connection | None = None
        self._since_checkpoint = 0
        self._pruned_at = float("-inf")
        if synchronous == "NORMAL":
            inline = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False, timeout=0)
            inline.execute("PRAGMA synchronous=NORMAL")
            inline.execute("PRAGMA wal_autocheckpoint=0")  # checkpoints flush: the worker thread does them
            self._inline = inline

    @staticmethod
    def _migrate(conn: sqlite3.Connection) -> None:
        # One immediate transaction, so two processes opening a new file at once do not interleave.
        conn.execute("BEGIN IMMEDIATE")
        try:
            (version,) = conn.execute("PRAGMA user_version").fetchone()
            if version > _SCHEMA_VERSION:
                raise RuntimeError(f"call store schema {version} is newer than this code ({_SCHEMA_VERSION})")
            if version == 1:  # claims gained leases and owners; old claims count as expired
                conn.execute("ALTER TABLE events ADD COLUMN lease_until REAL NOT NULL DEFAULT 0")
                conn.execute("ALTER TABLE events ADD COLUMN owner TEXT NOT NULL DEFAULT ''")
            for statement in _SCHEMA.split(";"):
                if statement.strip():
                    conn.execute(statement)
            conn.execute(f"PRAGMA user_version = {_SCHEMA_VERSION}")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    async def _run(self, work: Callable[[sqlite3.Connection], _T], *, inline: bool = True) -> _T:
        """Run ``work``, one call at a time: inline when it cannot wait, else in a worker thread.

        Every ``work`` is safe to run again after failing with "database is locked": it either
        starts with ``BEGIN IMMEDIATE`` (which fails before changing anything) or is a single
        statement.
        """
        async with self._lock:
            conn = self._conn
            if conn is None:
                raise RuntimeError("call store is closed")
            if inline and self._inline is not None:
                try:
                    result = work(self._inline)
                except sqlite3.OperationalError as exc:
                    if not _is_busy(exc):
                        raise
                    # Another process holds the write lock: wait for it in the worker thread.
                else:
                    self._since_checkpoint += 1
                    if self._since_checkpoint >= CHECKPOINT_EVERY:
                        self._since_checkpoint = 0
                        await anyio.to_thread.run_sync(_checkpoint, conn)
                    return result
            # Not abandoned on cancel: the lock stays held until the thread is done with conn.
            return await anyio.to_thread.run_sync(work, conn)

    # ------------------------------------------------------------------ records

    async def create(self, record: CallRecord) -> None:
        """Store a new call; raise :class:`ValueError` on a duplicate id."""
        row = _row(record)

        def work(conn: sqlite3.Connection) -> None:
            try:
                conn.execute(
                    "INSERT INTO calls (call_id, provider, provider_call_id, state, direction,"
                    " created_at, record) VALUES (?, ?, ?, ?, ?, ?, ?)",
                    row,
                )
            except sqlite3.IntegrityError as exc:
                raise ValueError(f"call {record.call_id!r} already exists") from exc

        await self._run(work)

    async def get(self, call_id: str) -> CallRecord | None:
        """The stored call, or None."""

        def work(conn: sqlite3.Connection) -> bytes | None:
            found = conn.execute("SELECT record FROM calls WHERE call_id = ?", (call_id,)).fetchone()
            return None if found is None else bytes(found[0])

        data = await self._run(work)
        return None if data is None else decode_record(data)

    async def get_by_provider_id(self, provider: str, provider_call_id: str) -> CallRecord | None:
        """The newest call the carrier knows by ``provider_call_id``."""

        def work(conn: sqlite3.Connection) -> bytes | None:
            found = conn.execute(
                "SELECT record FROM calls WHERE provider = ? AND provider_call_id = ?"
                " ORDER BY created_at DESC, rowid DESC LIMIT 1",
                (provider, provider_call_id),
            ).fetchone()
            return None if found is None else bytes(found[0])

        data = await self._run(work)
        return None if data is None else decode_record(data)

    async def save(self, record: CallRecord) -> None:
        """Insert or replace the whole record."""
        row = _row(record)

        def work(conn: sqlite3.Connection) -> None:
            conn.execute(_UPSERT, row)

        await self._run(work)

    async def delete(self, call_id: str) -> None:
        """Forget the call and its tokens, in one transaction."""

        def work(conn: sqlite3.Connection) -> None:
            conn.execute("DELETE FROM calls WHERE call_id = ?", (call_id,))
            conn.execute("DELETE FROM tokens WHERE call_id = ?", (call_id,))

        await self._run(lambda conn: _in_transaction(conn, work))

    async def append_turn(self, call_id: str, turn: Turn) -> CallRecord:
        """Append one turn in a single transaction; raise :class:`KeyError` for an unknown call."""
        return await self._run(lambda conn: _in_transaction(conn, lambda c: _append(c, call_id, turn)))

    def transaction(self) -> WriteBatch:
        """A batch of writes committed in one ``BEGIN IMMEDIATE`` transaction when its block ends."""
        return WriteBatch(self._commit)

    async def _commit(self, operations: tuple[BatchOperation, ...]) -> None:
        now = self._clock()

        def apply(conn: sqlite3.Connection) -> None:
            for operation in operations:
                match operation:
                    case SaveRecord(record=record, encoded=encoded):
                        conn.execute(_UPSERT, _row(record, encoded))
                    case AppendTurn(call_id=call_id, turn=turn):
                        _append(conn, call_id, turn)
                    case SetReply(event_id=event_id, content_type=content_type, body=body):
                        conn.execute(_SET_REPLY, (event_id, content_type, body, now))

        await self._run(lambda conn: _in_transaction(conn, apply))

    def _prune_due(self, now: float) -> bool:
        """Whether this claim should also sweep expired events (at most once a minute)."""
        return now - self._pruned_at >= PRUNE_EVERY_SECONDS

    async def list_calls(self, *, active_only: bool = False, limit: int = 100) -> list[CallRecord]:
        """Newest calls first, optionally only those still live."""
        if limit <= 0:
            return []
        if active_only:
            sql = f"SELECT record FROM calls WHERE state IN ({_ACTIVE_PLACEHOLDERS})"
            params: tuple[object, ...] = (*_ACTIVE_PARAMS, limit)
        else:
            sql = "SELECT record FROM calls"
            params = (limit,)
        sql += " ORDER BY created_at DESC, rowid DESC LIMIT ?"

        def work(conn: sqlite3.Connection) -> list[bytes]:
            return [bytes(found[0]) for found in conn.execute(sql, params)]

        return [decode_record(data) for data in await self._run(work, inline=False)]

    async def count_active(self, direction: str | None = None) -> int:
        """Live calls, optionally of one direction."""
        sql = f"SELECT COUNT(*) FROM calls WHERE state IN ({_ACTIVE_PLACEHOLDERS})"
        params: tuple[object, ...] = _ACTIVE_PARAMS
        if direction is not None:
            sql += " AND direction = ?"
            params = (*params, direction)

        def work(conn: sqlite3.Connection) -> int:
            (count,) = conn.execute(sql, params).fetchone()
            return int(count)

        return await self._run(work)

    # ------------------------------------------------------------------ webhook dedupe

    async def claim_event(
        self,
        event_id: str,
        call_id: str | None,
        *,
        lease_seconds: float = DEFAULT_CLAIM_LEASE_SECONDS,
        owner: str = "",
    ) -> ClaimOutcome:
        """Done if answered, running while another lease lasts, else claimed for ``lease_seconds``."""
        now = self._clock()
        cutoff = now - self._retention
        prune = self._prune_due(now)

        def claim(conn: sqlite3.Connection) -> ClaimOutcome:
            if prune:
                _prune_events(conn, cutoff)
            return _claim(conn, event_id, call_id, now, lease_seconds, owner)

        outcome = await self._run(lambda conn: _in_transaction(conn, claim))
        if prune:
            self._pruned_at = now
        return outcome

    async def renew_event(self, event_id: str, lease_seconds: float, *, owner: str = "") -> bool:
        """Extend ``owner``'s unanswered claim."""
        params = (self._clock() + lease_seconds, event_id, owner, event_id)

        def work(conn: sqlite3.Connection) -> bool:
            renewed = conn.execute(
                "UPDATE events SET lease_until = ? WHERE event_id = ? AND owner = ?"
                " AND NOT EXISTS (SELECT 1 FROM replies WHERE event_id = ?)",
                params,
            )
            return renewed.rowcount == 1

        return await self._run(work)

    async def release_event(self, event_id: str, *, owner: str | None = None) -> None:
        """Forget a claim (``owner``'s only, when given)."""
        sql, params = "DELETE FROM events WHERE event_id = ?", [event_id]
        if owner is not None:
            sql, params = sql + " AND owner = ?", [event_id, owner]

        def work(conn: sqlite3.Connection) -> None:
            conn.execute(sql, params)

        await self._run(work)

    async def set_reply(self, event_id: str, content_type: str, body: bytes) -> None:
        """Cache the answer given to ``event_id``."""
        params = (event_id, content_type, bytes(body), self._clock())

        def work(conn: sqlite3.Connection) -> None:
            conn.execute(_SET_REPLY, params)

        await self._run(work)

    async def get_reply(self, event_id: str) -> tuple[str, bytes] | None:
        """The cached answer for ``event_id``, if still kept."""

        def work(conn: sqlite3.Connection) -> tuple[str, bytes] | None:
            found = conn.execute(
                "SELECT content_type, body FROM replies WHERE event_id = ?", (event_id,)
            ).fetchone()
            return None if found is None else (str(found[0]), bytes(found[1]))

        return await self._run(work)

    # ------------------------------------------------------------------ stream tokens

    async def issue_token(self, call_id: str, ttl_seconds: float) -> str:
        """Mint a single-use token for ``call_id`` valid for ``ttl_seconds``."""
        if ttl_seconds <= 0:
            raise ValueError("ttl_seconds must be positive")
        token = new_token()
        now = self._clock()
        params = (hash_token(token), call_id, now + ttl_seconds)

        def issue(conn: sqlite3.Connection) -> None:
            conn.execute("DELETE FROM tokens WHERE expires_at <= ?", (now,))
            conn.execute("INSERT INTO tokens (token_hash, call_id, expires_at) VALUES (?, ?, ?)", params)

        await self._run(lambda conn: _in_transaction(conn, issue))
        return token

    async def consume_token(self, token: str, call_id: str) -> bool:
        """Spend ``token`` if it is unused, unexpired and bound to ``call_id``.

        One conditional UPDATE both checks and spends the token, so two sockets racing with the
        same token cannot both win, even from different processes.
        """
        now = self._clock()
        params = (now, hash_token(token), call_id, now)

        def work(conn: sqlite3.Connection) -> bool:
            spent = conn.execute(
                "UPDATE tokens SET consumed_at = ?"
                " WHERE token_hash = ? AND call_id = ? AND consumed_at IS NULL AND expires_at > ?",
                params,
            )
            return spent.rowcount == 1

        return await self._run(work)

    async def close(self) -> None:
        """Close the connection (checkpointing the WAL); later calls raise RuntimeError."""
        async with self._lock:
            conn, self._conn = self._conn, None
            inline, self._inline = self._inline, None
            if inline is not None:
                inline.close()
            if conn is not None:
                await anyio.to_thread.run_sync(conn.close)
