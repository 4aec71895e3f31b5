"""Unauthenticated media sockets are capped on their own and can never lock a real stream out.

Everything runs on a real uvicorn server on loopback. The idle sockets come from other loopback
addresses (127.0.0.2, 127.0.0.3, ...), so the per-address cap sees them as other clients; the
real calls' streams come from the local carrier's simulator on 127.0.0.1. The pending pool is
the second line, for sockets on the bare stream path; a stream URL's own credential is checked
on the upgrade (see ``tests/contract/test_stream_upgrade.py``).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any

import pytest
from contract.harness import QuickVoice, stream_slots
from litestar import Litestar
from test_stream_turns import ScriptedSTT, _tone
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from telephony.adapters.local import LocalCarrier
from telephony.config import config_from_mapping
from telephony.media import StreamSlots
from telephony.media import _session as stream
from telephony.observability import RateLimitedLog
from telephony.runtime import Runtime
from telephony.server import background_server, create_app, free_port
from telephony.store import MemoryCallStore

OUR_NUMBER = "+18005551212"
CALLER = "+14158675309"


async def _eventually(check: Callable[[], bool], what: str) -> None:
    for _ in range(200):
        if check():
            return
        await asyncio.sleep(0.025)
    raise AssertionError(f"never happened: {what}")


@asynccontextmanager
async def _server(
    security: dict[str, Any] | None = None, *, max_calls: int = 1, **streaming: Any
) -> AsyncIterator[tuple[str, Runtime, Litestar]]:
    port = free_port()
    config = config_from_mapping(
        {
            "provider": "local",
            "fromNumber": OUR_NUMBER,
            "inboundPolicy": "open",
            "serve": {"port": port},
            "agent": "builtin",
            "streaming": {"enabled": True, **streaming},
            "carriers": {"local": {"secret": "admission-test-secret"}},
            "webhookSecurity": security or {},
            "maxConcurrentCalls": max_calls,
            "gatherTimeoutSeconds": 60,  # no re-prompt: the caller hangs up on the silence first
        },
        env={},
    )
    runtime = Runtime.build(config, store=MemoryCallStore(), stt=ScriptedSTT(["goodbye"]), tts=QuickVoice())
    app = create_app(config, runtime=runtime)
    async with background_server(app, port=port) as url:
        yield url.replace("http://", "ws://") + "/voice/stream", runtime, app


async def _idle(stream: str, address: str) -> ClientConnection:
    """A socket from ``address`` that completes the handshake and then says nothing."""
    return await connect(stream, local_addr=(address, 0), open_timeout=5)


async def _close_code(ws: ClientConnection) -> int:
    with pytest.raises(ConnectionClosed) as closed:
        await asyncio.wait_for(ws.recv(), 5)
    assert closed.value.rcvd is not None, "the server must close with a code"
    return closed.value.rcvd.code


async def test_idle_sockets_are_capped_per_address_and_in_total_and_never_take_a_live_slot() -> None:
    limits = {"maxPendingConnectionsPerIp": 2, "maxPendingConnections": 5, "maxConnections": 1}
    async with _server(**limits) as (stream, runtime, app), AsyncExitStack() as sockets:
        slots = stream_slots(app)

        async def idle(address: str) -> ClientConnection:
            ws = await _idle(stream, address)
            sockets.push_async_callback(ws.close)
            return ws

        first, second = await idle("127.0.0.2"), await idle("127.0.0.2")
        assert await _close_code(await idle("127.0.0.2")) == 1013, "a third from one address"
        assert slots.pending_from("127.0.0.2") == 2
        await idle("127.0.0.3")
        await idle("127.0.0.3")
        fifth = await idle("127.0.0.4")
        assert slots.pending == 5
        assert await _close_code(await idle("127.0.0.5")) == 1013, "the pool is full"
        await fifth.close()
        await _eventually(lambda: slots.pending == 4, "a closed socket frees its pending slot")

        # Four strangers wait on the pool, and the only live slot is taken by nobody yet.
        carrier = runtime.carrier
        assert isinstance(carrier, LocalCarrier)

        async def voice(text: str) -> bytes:
            return _tone(600)

        carrier.simulator.voice = voice
        call = await carrier.simulator.inbound_call(caller=CALLER, callee=OUR_NUMBER, script=["goodbye"])
        record = await runtime.store.get_by_provider_id("local", call.provider_call_id)
        assert record is not None
        assert call.media == "stream" and call.ended_by == "bot"
        assert [(turn.speaker, turn.text) for turn in record.transcript] == [
            ("bot", "Hello! How can I help you today?"),
            ("user", "goodbye"),
            ("bot", "Thanks for calling. Goodbye!"),
        ]
        assert slots.pending == 4, "the strangers are still waiting, never promoted"
        assert first.state.name == second.state.name == "OPEN"
        await _eventually(lambda: slots.live == 0, "the ended stream frees its live slot")
    await _eventually(lambda: slots.pending == 0, "every closed socket frees its slot")


async def test_a_socket_that_never_starts_is_closed_and_frees_its_slot() -> None:
    async with _server(maxPendingConnectionsPerIp=2, preStartTimeoutMs=200) as (stream, _, app):
        slots = stream_slots(app)
        idle = [await _idle(stream, "127.0.0.2") for _ in range(2)]
        assert slots.pending_from("127.0.0.2") == 2
        assert [await _close_code(ws) for ws in idle] == [1008, 1008]
        await _eventually(lambda: slots.pending == 0, "timed-out sockets free their slots")
        again = await _idle(stream, "127.0.0.2")
        assert slots.pending_from("127.0.0.2") == 1, "the address may connect again"
        await again.close()
    assert (slots.pending, slots.live) == (0, 0)


async def test_a_refused_socket_is_logged_with_the_reason_it_was_refused(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A fresh allowance of refusal lines, whatever earlier tests in this process refused.
    monkeypatch.setattr(stream, "_REFUSALS", RateLimitedLog(stream._log, what="refused streams"))
    caplog.set_level(logging.WARNING, logger="telephony.stream")
    async with _server(preStartTimeoutMs=200) as (url, _, _):
        silent = await _idle(url, "127.0.0.2")
        assert await _close_code(silent) == 1008
        early = await _idle(url, "127.0.0.3")
        await early.send('{"type":"audio","pcmu":"//8="}')
        assert await _close_code(early) == 1008
    refusals = [r.getMessage() for r in caplog.records if r.getMessage().startswith("stream refused")]
    assert refusals == [
        "stream refused: no start message in time",
        "stream refused: AudioReceived before the stream start message",
    ]


async def test_behind_a_trusted_proxy_the_forwarded_address_is_capped() -> None:
    security = {"trustForwardingHeaders": True, "trustedProxyIPs": ["127.0.0.1"]}
    async with (
        _server(maxPendingConnectionsPerIp=1, security=security) as (stream, _, app),
        AsyncExitStack() as sockets,
    ):
        slots = stream_slots(app)

        async def via(address: str, forwarded_for: str) -> ClientConnection:
            ws = await connect(
                stream, local_addr=(address, 0), additional_headers={"X-Forwarded-For": forwarded_for}
            )
            sockets.push_async_callback(ws.close)
            return ws

        await via("127.0.0.1", "198.51.100.1, 203.0.113.7")
        await via("127.0.0.1", "203.0.113.8")
        assert slots.pending_from("203.0.113.7") == slots.pending_from("203.0.113.8") == 1
        assert await _close_code(await via("127.0.0.1", "203.0.113.7")) == 1013
        # A peer that is not the trusted proxy cannot pick its address.
        await via("127.0.0.2", "203.0.113.9")
        assert slots.pending_from("127.0.0.2") == 1 and slots.pending_from("203.0.113.9") == 0
        assert await _close_code(await via("127.0.0.2", "203.0.113.10")) == 1013
    await _eventually(lambda: slots.pending == 0, "every closed socket frees its slot")


def test_a_slot_moves_from_pending_to_live_once_and_is_released_once() -> None:
    slots = StreamSlots(max_pending=3, max_pending_per_address=2, max_live=1)
    first, second = slots.claim("a"), slots.claim("b")
    assert first.promote() and (slots.pending, slots.live) == (1, 1)
    assert not second.promote(), "no live slot free: it stays pending"
    assert (slots.pending, slots.live) == (1, 1)
    first.release()
    first.release()
    assert second.promote() and (slots.pending, slots.live) == (0, 1)
    second.release()
    assert (slots.pending, slots.live, slots.pending_from("a")) == (0, 0, 0)


async def test_fifty_streams_set_up_at_once_from_one_address_all_stream() -> None:
    # A carrier opens many streams from a few addresses; each URL's credential is checked on the
    # upgrade and takes a live slot at once, so the per-address pending cap never sees them.
    calls = 50
    async with _server(max_calls=calls) as (_, runtime, app):
        slots = stream_slots(app)
        carrier = runtime.carrier
        assert isinstance(carrier, LocalCarrier)
        carrier.simulator.stream_idle_seconds = 2  # after the greeting, the caller hangs up
        assert slots.max_pending_per_address < calls
        placed = await asyncio.gather(
            *(
                carrier.simulator.inbound_call(caller=CALLER, callee=OUR_NUMBER, script=[])
                for _ in range(calls)
            )
        )
        refused = runtime.metrics.rejected_requests.labels("1013")._value.get()
        await _eventually(lambda: (slots.pending, slots.live) == (0, 0), "every slot freed")
    assert [call.media for call in placed] == ["stream"] * calls
    assert all(call.bot_audio_ms > 0 for call in placed), "every caller heard the greeting"
    assert [call.ended_by for call in placed] == ["caller"] * calls, "no stream was cut off by the server"
    assert refused == 0
