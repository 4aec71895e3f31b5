"""The control bus over Redis pub/sub, for instances that share a Redis call store.

Every instance subscribes to one channel per app (``<prefix>control``) and to a reply channel of
its own. An instance that must reach a call's stream publishes the request on the app channel;
Redis says how many instances received it. Each answers on the asker's reply channel: the one
holding the stream acts and says ``done`` (or ``failed``), the others say ``absent``. The asker
returns the holder's answer at once, ``absent`` once every receiver has said so, and gives up
with :class:`ControlTimeout` when an instance stays silent too long.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Final

import anyio
import msgspec
import redis.asyncio as aioredis
from anyio.abc import TaskStatus
from redis.exceptions import RedisError

from .base import (
    ABSENT,
    ControlHandler,
    ControlReply,
    ControlRequest,
    ControlTimeout,
    ControlUnavailable,
    answer,
)

__all__ = ["DEFAULT_TIMEOUT_SECONDS", "RedisControlBus"]

_log = logging.getLogger("telephony.bus")

DEFAULT_TIMEOUT_SECONDS: Final = 10.0
"""How long an asker waits for the instances: long enough for a carrier's hang-up request."""

RECONNECT_SECONDS: Final = 1.0
"""The pause before listening again after the connection to Redis was lost."""


class _Ask(msgspec.Struct, frozen=True):
    id: str
    reply_to: str
    request: ControlRequest


class _Told(msgspec.Struct, frozen=True):
    id: str
    reply: ControlReply


_ENCODER: Final = msgspec.json.Encoder()
_ASK: Final = msgspec.json.Decoder(_Ask)
_TOLD: Final = msgspec.json.Decoder(_Told)


@dataclass
class _Waiter:
    """Collects the answers to one request until the holder's arrives or every one is ``absent``."""

    expected: int | None = None
    absent: int = 0
    reply: ControlReply | None = None
    arrived: anyio.Event = field(default_factory=anyio.Event)

    def told(self, reply: ControlReply) -> None:
        if reply.outcome != "absent":
            self.reply = reply
            self.arrived.set()
        else:
            self.absent += 1
            self._check()

    def expect(self, receivers: int) -> None:
        self.expected = receivers
        self._check()

    def _check(self) -> None:
        if self.reply is None and self.expected is not None and self.absent >= self.expected:
            self.reply = ABSENT
            self.arrived.set()


class RedisControlBus:
    """A :class:`~telephony.bus.ControlBus` on Redis pub/sub.

    Args:
        client: The Redis client (the call store's: one pool for both).
        prefix: The app's key prefix; the channels start with it, so apps sharing a Redis
            do not hear each other.
        timeout_seconds: How long :meth:`request` waits for the instances' answers.
    """

    def __init__(
        self, client: aioredis.Redis, *, prefix: str, timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS
    ) -> None:
        self.client = client
        self.instance = secrets.token_hex(8)
        self.timeout_seconds = timeout_seconds
        self._channel = f"{prefix}control"
        self._reply_channel = f"{prefix}control-reply:{self.instance}"
        self._waiting: dict[str, _Waiter] = {}

    async def serve(self, handler: ControlHandler, *, task_status: TaskStatus[None]) -> None:
        """Listen until cancelled, listening again after a lost connection.

        Reports started once both subscriptions are confirmed, so a request published after
        start-up counts this instance among its receivers. A failure to subscribe the first
        time is raised: the instance must not serve without hearing the others.
        """
        started = False

        def listening() -> None:
            nonlocal started
            if not started:
                started = True
                task_status.started()

        while True:
            try:
                await self._listen(handler, listening)
            except (RedisError, OSError) as exc:
                if not started:
                    raise
                _log.warning(
                    "control bus: lost the connection to Redis (%s); listening again in %.0f s",
                    type(exc).__name__,
                    RECONNECT_SECONDS,
                )
                await anyio.sleep(RECONNECT_SECONDS)

    async def _listen(self, handler: ControlHandler, listening: Callable[[], None]) -> None:
        pubsub = self.client.pubsub()
        channel = self._channel.encode()
        try:
            await pubsub.subscribe(self._channel, self._reply_channel)
            confirmed = 0
            failure: RedisError | OSError | None = None
            async with anyio.create_task_group() as group:
                try:
                    async for message in pubsub.listen():
                        if message["type"] == "subscribe":
                            confirmed += 1
                            if confirmed == 2:
                                listening()
                        elif message["type"] == "message":
                            if message["channel"] == channel:
                                group.start_soon(self._answer, handler, message["data"])
                            else:
                                self._collect(message["data"])
                except (RedisError, OSError) as exc:  # raised below, outside the group's wrapping
                    failure = exc
                group.cancel_scope.cancel()
            if failure is not None:
                raise failure
        finally:
            with anyio.CancelScope(shield=True):
                await pubsub.aclose()  # type: ignore[no-untyped-call,unused-ignore]  # typed from redis 8

    async def _answer(self, handler: ControlHandler, data: Any) -> None:
        try:
            ask = _ASK.decode(data)
        except msgspec.DecodeError:
            _log.warning("control bus: malformed request dropped")
            return
        reply = await answer(handler, ask.request)
        try:
            await self.client.publish(ask.reply_to, _ENCODER.encode(_Told(id=ask.id, reply=reply)))
        except (RedisError, OSError) as exc:
            _log.warning("control bus: could not answer a request (%s)", type(exc).__name__)

    def _collect(self, data: Any) -> None:
        try:
            told = _TOLD.decode(data)
        except msgspec.DecodeError:
            _log.warning("control bus: malformed reply dropped")
            return
        waiter = self._waiting.get(told.id)
        if waiter is not None:
            waiter.told(told.reply)

    async def request(self, request: ControlRequest) -> ControlReply:
        """Ask every instance; the holder's answer, or ``absent`` once all receivers said so."""
        ask = _Ask(id=secrets.token_hex(8), reply_to=self._reply_channel, request=request)
        waiter = _Waiter()
        self._waiting[ask.id] = waiter  # before publishing: answers may come back before its count
        try:
            try:
                receivers = await self.client.publish(self._channel, _ENCODER.encode(ask))
            except (RedisError, OSError) as exc:
                raise ControlUnavailable(
                    f"cannot reach the other instances to {request.op} call {request.call_id}: "
                    f"Redis is unavailable ({type(exc).__name__})"
                ) from None
            waiter.expect(int(receivers))
            with anyio.move_on_after(self.timeout_seconds):
                await waiter.arrived.wait()
            if waiter.reply is None:
                raise ControlTimeout(
                    f"no answer within {self.timeout_seconds:.0f} s from the instance that may hold "
                    f"call {request.call_id}'s stream; {request.op} may not have happened"
                )
            return waiter.reply
        finally:
            del self._waiting[ask.id]
