"""A call store on a Redis server, which several server instances share.

With every instance on one Redis, a carrier's webhook may land on any of them: the record, the
webhook claims and answers, and the stream tokens are all here. Each method is one Lua script
(see :mod:`telephony.store.redis_scripts`), so it is atomic against every other client.

Durability is Redis's: with its default snapshotting a crash of the Redis server can lose the
last minutes of writes; turn on ``appendonly yes`` (``appendfsync everysec``) to lose at most
about a second. Claimed event ids and cached answers expire after the retention window, stream
tokens shortly after their own expiry, by key TTLs: nothing needs sweeping.

An unreachable or frozen server fails each operation within :data:`SOCKET_TIMEOUT_SECONDS` with
:class:`~telephony.store.StoreUnavailable`. A pooled connection that went stale while the server
was away (killed and restarted) is dropped and the operation tried once more on a fresh one, so
the first request after the server is back succeeds. Only connection errors are retried: after a
timeout the script may have run, and running a turn's write twice is what the store must not do.
"""

from __future__ import annotations

import math
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Final

import msgspec

from telephony.providers import Turn, missing_dependency

from . import redis_scripts as lua
from .base import (
    ACTIVE_STATES,
    DEFAULT_CLAIM_LEASE_SECONDS,
    DEFAULT_EVENT_RETENTION_SECONDS,
    CallRecord,
    ClaimOutcome,
    StoreUnavailable,
    decode_record,
    encode_record,
    hash_token,
    new_token,
)
from .batch import AppendTurn, BatchOperation, SaveRecord, SetReply, WriteBatch
from .redis_settings import DEFAULT_KEY_PREFIX, is_redis_url

try:
    import redis as sync_redis
    import redis.asyncio as aioredis
    from redis.asyncio.retry import Retry
    from redis.backoff import NoBackoff
except ModuleNotFoundError as exc:  # pragma: no cover - depends on the installed extras
    raise missing_dependency(exc, "redis") from None

__all__ = ["SOCKET_TIMEOUT_SECONDS", "RedisCallStore", "ping"]

SOCKET_TIMEOUT_SECONDS: Final = 2.0
"""How long one command (or a connection attempt) may take before the server counts as unreachable.

Each of our scripts is a single round trip of well under a millisecond, so two seconds means the
server is frozen or gone; a caller is then asked to hold on within a few seconds, long before a
carrier gives up on the webhook (15 s).
"""

_UNREACHABLE: Final = (sync_redis.ConnectionError, sync_redis.TimeoutError, OSError)
"""redis-py's own errors for a server that is down, frozen or still loading, and raw socket errors."""

TOKEN_KEY_GRACE_MS: Final = 1000
"""A token key outlives the token by this much; the expiry time stored in it decides, not the TTL."""

_TURN: Final = msgspec.json.Encoder()
_TURNS: Final = msgspec.json.Decoder(list[Turn])


def ping(url: str, *, timeout_seconds: float) -> None:
    """Connect to ``url`` and ping it once, synchronously, so start-up can refuse a dead Redis.

    Raises:
        redis.RedisError: The server cannot be reached, refuses the credentials, or does not
            answer in time.
    """
    client = sync_redis.Redis.from_url(
        url, socket_connect_timeout=timeout_seconds, socket_timeout=timeout_seconds
    )
    try:
        client.ping()
    finally:
        client.close()


def _number(value: float) -> str:
    """A time as the scripts store and compare it: exact, in the shortest form that round-trips."""
    return repr(float(value))


def _save_args(record: CallRecord) -> list[Any]:
    """One save as the scripts read it: id, record, created_at, index key, direction, live, turns."""
    turns = [_TURN.encode(turn) for turn in record.transcript]
    return [
        record.call_id,
        encode_record(msgspec.structs.replace(record, transcript=[])),
        _number(record.created_at),
        "" if record.provider_call_id is None else _provider_key(record.provider, record.provider_call_id),
        record.direction,
        "1" if record.state in ACTIVE_STATES else "0",
        len(turns),
        *turns,
    ]


def _provider_key(provider: str, provider_call_id: str) -> str:
    # The length keeps ("a:b", "c") and ("a", "b:c") apart.
    return f"pcid:{len(provider)}:{provider}:{provider_call_id}"


def _record(found: Sequence[Any]) -> CallRecord:
    """A record from a script's ``{record, turns}`` pair."""
    meta, turns = found
    record = decode_record(meta)
    record.transcript = _TURNS.decode(b"[" + b",".join(turns) + b"]")
    return record


class RedisCallStore:
    """A :class:`~telephony.store.CallStore` on a Redis server (6.2 or newer, not Cluster).

    Args:
        url: ``redis://[user:password@]host[:port][/db]``, ``rediss://`` for TLS, or
            ``unix:///path/to/socket``.
        key_prefix: Prepended to every key; two apps sharing a Redis need different prefixes.
        clock: Wall-clock source; injectable so tests can move time.
        event_retention_seconds: How long claimed event ids and cached replies are kept.
        client: A ready client to use instead of connecting to ``url`` (the store then does
            not close it).
    """

    shared: Final = True
    """Several processes may use this store at once, so per-call locks must live in it too."""

    def __init__(
        self,
        url: str | None = None,
        *,
        key_prefix: str = DEFAULT_KEY_PREFIX,
        clock: Callable[[], float] = time.time,
        event_retention_seconds: float = DEFAULT_EVENT_RETENTION_SECONDS,
        client: aioredis.Redis | None = None,
    ) -> None:
        if client is None:
            if url is None or not is_redis_url(url):
                raise ValueError("the redis call store needs a redis://, rediss:// or unix:// URL")
            client = aioredis.Redis.from_url(
                url,
                socket_timeout=SOCKET_TIMEOUT_SECONDS,
                socket_connect_timeout=SOCKET_TIMEOUT_SECONDS,
                # A stale pooled connection fails with a connection error: reconnect, try once more.
                retry=Retry(NoBackoff(), 1, supported_errors=(sync_redis.ConnectionError,)),
            )
        self.client: aioredis.Redis = client
        self._owns_client = url is not None
        self.prefix = key_prefix
        self._clock = clock
        self._retention = event_retention_seconds
        self._retention_ms = max(1, math.ceil(event_retention_seconds * 1000))
        self._closed = False
        self._scripts = {name: client.register_script(getattr(lua, name)) for name in lua.__all__}

    async def _run(self, script: str, *args: Any) -> Any:
        if self._closed:
            raise RuntimeError("call store is closed")
        return await self._reach(self._scripts[script](keys=[], args=[self.prefix, *args]))

    async def _reach(self, command: Awaitable[Any]) -> Any:
        """Await one command; a server that cannot be reached raises :class:`StoreUnavailable`."""
        try:
            return await command
        except _UNREACHABLE as exc:
            raise StoreUnavailable(f"the Redis server did not answer: {type(exc).__name__}: {exc}") from exc

    # ------------------------------------------------------------------ records

    async def create(self, record: CallRecord) -> None:
        """Store a new call; raise :class:`ValueError` on a duplicate id."""
        if not await self._run("CREATE", *_save_args(record)):
            raise ValueError(f"call {record.call_id!r} already exists")

    async def get(self, call_id: str) -> CallRecord | None:
        """A private copy of the call, or None."""
        found = await self._run("GET", call_id)
        return _record(found) if found else None

    async def get_by_provider_id(self, provider: str, provider_call_id: str) -> CallRecord | None:
        """The newest call the carrier knows by ``provider_call_id``."""
        found = await self._run("GET_BY_PROVIDER_ID", self.prefix + _provider_key(provider, provider_call_id))
        return _record(found) if found else None

    async def save(self, record: CallRecord) -> None:
        """Insert or replace the whole record."""
        await self._run("COMMIT", _number(self._clock()), self._retention_ms, "S", *_save_args(record))

    async def delete(self, call_id: str) -> None:
        """Forget the call and its tokens, in one step."""
        await self._run("DELETE", call_id)

    async def append_turn(self, call_id: str, turn: Turn) -> CallRecord:
        """Append one turn (one ``RPUSH``); raise :class:`KeyError` for an unknown call."""
        found = await self._run("APPEND", call_id, _TURN.encode(turn))
        if not found:
            raise KeyError(call_id)
        return _record(found)

    def transaction(self) -> WriteBatch:
        """A batch of writes applied by one script, all or nothing, when its block ends."""
        if self._closed:
            raise RuntimeError("call store is closed")
        return WriteBatch(self._commit)

    async def _commit(self, operations: tuple[BatchOperation, ...]) -> None:
        args: list[Any] = [_number(self._clock()), self._retention_ms]
        for operation in operations:
            match operation:
                case SaveRecord(record=record):
                    args += ["S", *_save_args(record)]
                case AppendTurn(call_id=call_id, turn=turn):
                    args += ["A", call_id, _TURN.encode(turn)]
                case SetReply(event_id=event_id, content_type=content_type, body=body):
                    args += ["R", event_id, content_type, body]
        outcome = await self._run("COMMIT", *args)
        if outcome[0] == b"missing":
            raise KeyError(outcome[1].decode())

    async def list_calls(self, *, active_only: bool = False, limit: int = 100) -> list[CallRecord]:
        """Newest calls first, optionally only those still live."""
        if limit <= 0:
            if self._closed:
                raise RuntimeError("call store is closed")
            return []
        found = await self._run("LIST", "active" if active_only else "calls", limit)
        return [_record(pair) for pair in found]

    async def count_active(self, direction: str | None = None) -> int:
        """Live calls, optionally of one direction."""
        if self._closed:
            raise RuntimeError("call store is closed")
        if direction is None:
            return int(await self._reach(self.client.zcard(self.prefix + "active")))
        return int(await self._reach(self.client.scard(f"{self.prefix}active:{direction}")))

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
        outcome = await self._run(
            "CLAIM",
            event_id,
            call_id or "",
            _number(now),
            _number(now + lease_seconds),
            _number(now - self._retention),
            self._retention_ms,
            owner,
        )
        return ClaimOutcome(outcome.decode())

    async def renew_event(self, event_id: str, lease_seconds: float, *, owner: str = "") -> bool:
        """Extend ``owner``'s unanswered claim."""
        return bool(await self._run("RENEW", event_id, _number(self._clock() + lease_seconds), owner))

    async def release_event(self, event_id: str, *, owner: str | None = None) -> None:
        """Forget a claim (``owner``'s only, when given)."""
        await self._run("RELEASE", event_id, owner or "", "1" if owner is None else "0")

    async def set_reply(self, event_id: str, content_type: str, body: bytes) -> None:
        """Cache the answer given to ``event_id``, which marks it done."""
        await self._run(
            "SET_REPLY", event_id, content_type, bytes(body), _number(self._clock()), self._retention_ms
        )

    async def get_reply(self, event_id: str) -> tuple[str, bytes] | None:
        """The cached answer for ``event_id``, if still kept."""
        if self._closed:
            raise RuntimeError("call store is closed")
        found: list[Any] = await self._reach(
            self.client.hmget(f"{self.prefix}reply:{event_id}", ["type", "body", "at"])
        )
        content_type, body, at = found
        if at is None or float(at) < self._clock() - self._retention:
            return None
        return content_type.decode(), bytes(body)

    # ------------------------------------------------------------------ stream tokens

    async def issue_token(self, call_id: str, ttl_seconds: float) -> str:
        """Mint a single-use token for ``call_id`` valid for ``ttl_seconds``; only its hash is kept."""
        if ttl_seconds <= 0:
            raise ValueError("ttl_seconds must be positive")
        token = new_token()
        expires = _number(self._clock() + ttl_seconds)
        lifetime_ms = math.ceil(ttl_seconds * 1000) + TOKEN_KEY_GRACE_MS
        await self._run("ISSUE_TOKEN", hash_token(token), call_id, expires, lifetime_ms)
        return token

    async def consume_token(self, token: str, call_id: str) -> bool:
        """Spend ``token`` if it is unused, unexpired and bound to ``call_id``.

        One script both checks and spends it, so two sockets racing with the same token, even on
        different instances, cannot both win; a token shown for another call is left unspent.
        """
        return bool(await self._run("CONSUME_TOKEN", hash_token(token), call_id, _number(self._clock())))

    async def close(self) -> None:
        """Close the connection pool (if the store opened it); later calls raise RuntimeError."""
        if self._closed:
            return
        self._closed = True
        if self._owns_client:
            await self.client.aclose()
