"""The move of a stream call whose stream never started to markup mode, at its edges.

The carrier contract suite (``tests/contract``) runs the move over every carrier with a far end
that never opens its stream. These tests hold it to the rest: two instances sharing a Redis
store move a call once; a stream that started (live on another instance, or started and died)
is never moved; a restarted process moves the calls its predecessor answered; a move the carrier
refuses leaves the call as it was, for the lost-stream sweep; and the config key is checked.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any
from urllib.parse import parse_qs

import httpx
import pytest
import respx
from conftest import TWILIO_CALLS
from twilio_helpers import CALL_SID, WEBHOOK_URL, twilio_config

from telephony.config import ConfigError, config_from_mapping
from telephony.liveness import stream_lease_id
from telephony.providers import Gather, SynthesizedAudio, Turn
from telephony.runtime import Runtime
from telephony.states import CallState
from telephony.store import CallRecord, CallStore, ClaimOutcome, MemoryCallStore
from telephony.store.redis import RedisCallStore

GREETING = "Hello! How can I help you today?"
MOVED = "did not start within"


class _Quiet:
    async def synthesize(self, text: str) -> Any:
        yield SynthesizedAudio(pcm=b"\x00\x00" * 80, sample_rate=8000)


class _Deaf:
    sample_rate = 8000

    async def open_stream(self, *, language: str = "en-US") -> Any:
        raise AssertionError("no stream is opened in these tests")


def _runtime(store: CallStore, **streaming: Any) -> Runtime:
    config = twilio_config(streaming={"enabled": True} | streaming)
    return Runtime.build(config, store=store, tts=_Quiet(), stt=_Deaf())


async def _answered_stream_call(store: CallStore, *, ago: float, lines: tuple[Turn, ...] = ()) -> str:
    """A stream call answered ``ago`` seconds ago, as the answer webhook leaves it."""
    now = time.time()
    record = CallRecord(
        call_id="call1",
        provider="twilio",
        provider_call_id=CALL_SID,
        direction="inbound",
        state=CallState.ANSWERED,
        media="stream",
        created_at=now - ago - 1,
        answered_at=now - ago,
        transcript=list(lines),
    )
    await store.create(record)
    return record.call_id


def _twilio(router: respx.MockRouter, *, redirect_status: int = 200) -> tuple[list[str], list[str]]:
    """Twilio's Calls resource: the URLs live calls were redirected to, and the hang-ups asked for."""
    redirects: list[str] = []
    hangups: list[str] = []

    def update(request: httpx.Request) -> httpx.Response:
        form = {key: values[0] for key, values in parse_qs(request.content.decode()).items()}
        if "Url" in form:
            redirects.append(form["Url"])
            if redirect_status != 200:
                error = {"code": 21220, "message": "Call is not in-progress", "status": redirect_status}
                return httpx.Response(redirect_status, json=error)
        else:
            hangups.append(form.get("Status", ""))
        return httpx.Response(200, json={"sid": CALL_SID, "status": "in-progress"})

    router.post(f"{TWILIO_CALLS}/{CALL_SID}.json").mock(side_effect=update)
    return redirects, hangups


def _moves(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [record for record in caplog.records if MOVED in record.getMessage()]


async def test_two_instances_sharing_a_store_move_the_call_once(
    redis_url: str, no_network: respx.MockRouter, caplog: pytest.LogCaptureFixture
) -> None:
    redirects, _ = _twilio(no_network)
    first, second = RedisCallStore(redis_url), RedisCallStore(redis_url)
    a, b = _runtime(first), _runtime(second)
    call_id = await _answered_stream_call(first, ago=10)
    moved = await asyncio.gather(
        *(a.engine.fallback.move(call_id) for _ in range(3)), b.engine.fallback.move(call_id)
    )
    assert sorted(moved) == [False, False, False, True]
    assert [await runtime.engine.fallback.move(call_id) for runtime in (a, b)] == [False, False]
    record = await second.get(call_id)
    assert record is not None and record.media == "markup" and record.state == "listening"
    assert [turn.text for turn in record.transcript] == [GREETING]
    (gather,) = record.pending
    assert isinstance(gather, Gather) and gather.prompt[0].text == GREETING  # type: ignore[union-attr]
    assert redirects == [f"{WEBHOOK_URL}?callId={call_id}&kind=pending&turn=1"]
    (why,) = _moves(caplog)
    assert why.levelno == logging.WARNING and "4 s" in why.getMessage()
    # Every lease and lock the moves took was given back.
    assert await first.claim_event(stream_lease_id(call_id), None, lease_seconds=5) is ClaimOutcome.WON
    for runtime in (a, b):
        await runtime.aclose()


async def test_a_stream_that_started_is_never_moved(
    no_network: respx.MockRouter, caplog: pytest.LogCaptureFixture
) -> None:
    redirects, _ = _twilio(no_network)
    store = MemoryCallStore()
    runtime = _runtime(store)
    call_id = await _answered_stream_call(store, ago=10)
    # Its stream is live on another instance, which holds the stream's lease.
    assert await store.claim_event(stream_lease_id(call_id), call_id, lease_seconds=60) is ClaimOutcome.WON
    assert not await runtime.engine.fallback.move(call_id)
    # A stream that started and died (its opening line was said) is the sweep's, not the fallback's.
    await store.release_event(stream_lease_id(call_id))
    record = await store.get(call_id)
    assert record is not None
    record.transcript.append(Turn(speaker="bot", text=GREETING, at=time.time()))
    await store.save(record)
    assert not await runtime.engine.fallback.move(call_id)
    stored = await store.get(call_id)
    assert stored is not None and stored.media == "stream" and stored.pending == []
    assert redirects == [] and _moves(caplog) == []
    await runtime.aclose()


async def _until_moved(store: CallStore, call_id: str) -> CallRecord:
    for _ in range(500):
        record = await store.get(call_id)
        assert record is not None
        if record.media == "markup" or record.terminal:
            return record
        await asyncio.sleep(0.02)
    raise AssertionError("the call was neither moved nor ended")


async def test_a_restarted_process_moves_the_calls_whose_stream_never_came(
    no_network: respx.MockRouter,
) -> None:
    # The process that answered the call died before its stream came: the next one moves it,
    # and its lost-stream sweep, which starts at the same time, leaves the call to the move.
    redirects, hangups = _twilio(no_network)
    store = MemoryCallStore()
    call_id = await _answered_stream_call(store, ago=60)
    runtime = _runtime(store, leaseMs=1000)
    async with runtime.engine.running():
        record = await _until_moved(store, call_id)
    assert record.media == "markup" and not record.terminal
    assert len(redirects) == 1 and hangups == []


async def test_without_the_fallback_the_sweep_hangs_such_a_call_up(no_network: respx.MockRouter) -> None:
    redirects, hangups = _twilio(no_network)
    store = MemoryCallStore()
    call_id = await _answered_stream_call(store, ago=60)
    runtime = _runtime(store, leaseMs=1000, startTimeoutMs=0)
    async with runtime.engine.running():
        record = await _until_moved(store, call_id)
    assert (record.state, record.end_reason, record.media) == ("error", "stream-not-connected", "stream")
    assert redirects == [] and hangups == ["completed"]


async def test_a_move_the_carrier_refuses_leaves_the_call_to_the_sweep(
    no_network: respx.MockRouter, caplog: pytest.LogCaptureFixture
) -> None:
    redirects, hangups = _twilio(no_network, redirect_status=400)
    store = MemoryCallStore()
    runtime = _runtime(store)
    call_id = await _answered_stream_call(store, ago=60)
    assert not await runtime.engine.fallback.move(call_id)
    record = await store.get(call_id)
    assert record is not None and len(redirects) == 1
    assert (record.media, record.state, record.transcript, record.pending) == ("stream", "answered", [], [])
    assert "moving it to markup mode failed" in caplog.text
    # The last resort, as before there was a fallback: the sweep hangs it up.
    assert await runtime.engine.stream_reconciler().sweep() == [call_id]
    ended = await store.get(call_id)
    assert ended is not None and (ended.state, ended.end_reason) == ("error", "stream-not-connected")
    assert hangups == ["completed"]
    await runtime.aclose()


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (-1, "streaming.startTimeoutMs: expected int >= 0, got -1"),
        (60_001, "streaming.startTimeoutMs: expected int <= 60000, got 60001"),
        ("4s", "streaming.startTimeoutMs: expected int, got str"),
    ],
)
def test_the_start_timeout_is_checked(value: Any, message: str) -> None:
    with pytest.raises(ConfigError) as refused:
        config_from_mapping({"streaming": {"enabled": True, "startTimeoutMs": value}}, env={})
    assert str(refused.value) == message


def test_the_sweep_waits_for_the_fallback_however_long_it_is() -> None:
    runtime = _runtime(MemoryCallStore(), startTimeoutMs=30_000, leaseMs=2000, preStartTimeoutMs=1000)
    assert runtime.engine.stream_reconciler().grace_seconds == 32.0
