"""The control bus: the holder's answer comes back, absence is known at once, silence is a 504."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import anyio
import pytest

from telephony.bus import ControlRequest, ControlTimeout, ControlUnavailable, LocalControlBus
from telephony.bus.redis import RedisControlBus
from telephony.engine import CallNotLive
from telephony.server import status_for
from telephony.store.redis import RedisCallStore

SPEAK = ControlRequest(op="speak", call_id="c1", text="Hello.")


@asynccontextmanager
async def buses(
    redis_url: str, *handlers: Callable[[ControlRequest], Awaitable[bool]], timeout: float = 10.0
) -> AsyncIterator[list[RedisControlBus]]:
    store = RedisCallStore(redis_url)
    started = [RedisControlBus(store.client, prefix="bus:", timeout_seconds=timeout) for _ in handlers]
    try:
        async with anyio.create_task_group() as group:
            for bus, handler in zip(started, handlers, strict=True):
                await group.start(bus.serve, handler)
            yield started
            group.cancel_scope.cancel()
    finally:
        await store.close()


async def absent(request: ControlRequest) -> bool:
    return False


async def test_the_holders_answer_comes_back(redis_url: str) -> None:
    asked: list[ControlRequest] = []

    async def holder(request: ControlRequest) -> bool:
        asked.append(request)
        return True

    async with buses(redis_url, absent, holder, absent) as (asker, _, _):
        reply = await asker.request(SPEAK)
    assert reply.outcome == "done" and asked == [SPEAK]


async def test_when_nobody_holds_the_stream_every_instance_says_so(redis_url: str) -> None:
    async with buses(redis_url, absent, absent, timeout=60) as (asker, _):
        with anyio.fail_after(5):  # not the 60 s timeout: both receivers answered "absent"
            reply = await asker.request(SPEAK)
    assert reply.outcome == "absent"


async def test_a_failure_on_the_holder_comes_back_as_its_kind(redis_url: str) -> None:
    async def ended(request: ControlRequest) -> bool:
        raise CallNotLive("call c1 has ended (completed)")

    async with buses(redis_url, absent, ended) as (asker, _):
        reply = await asker.request(SPEAK)
    assert (reply.outcome, reply.error, reply.message) == (
        "failed",
        "CallNotLive",
        "call c1 has ended (completed)",
    )


async def test_a_silent_instance_times_out_as_504(redis_url: str) -> None:
    async def stuck(request: ControlRequest) -> bool:
        await anyio.sleep_forever()
        raise AssertionError("unreachable")

    async with buses(redis_url, absent, stuck, timeout=0.5) as (asker, _):
        with pytest.raises(ControlTimeout) as caught:
            await asker.request(SPEAK)
    assert status_for(caught.value) == 504


async def test_an_unreachable_redis_is_a_502(redis_url: str) -> None:
    from telephony.server import free_port

    store = RedisCallStore(f"redis://127.0.0.1:{free_port()}/0")
    try:
        with pytest.raises(ControlUnavailable) as caught:
            await RedisControlBus(store.client, prefix="bus:").request(SPEAK)
    finally:
        await store.close()
    assert status_for(caught.value) == 502


async def test_the_local_bus_asks_its_own_process() -> None:
    bus = LocalControlBus()
    assert (await bus.request(SPEAK)).outcome == "absent"  # not serving yet

    async def holder(request: ControlRequest) -> bool:
        return True

    async with anyio.create_task_group() as group:
        await group.start(bus.serve, holder)
        assert (await bus.request(SPEAK)).outcome == "done"
        group.cancel_scope.cancel()
