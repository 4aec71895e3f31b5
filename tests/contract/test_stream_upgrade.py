"""A stream's credential is checked on the HTTP upgrade: an unauthenticated socket holds nothing.

Every test runs the real app on a real uvicorn socket, with each carrier's kit playing the
carrier: signed webhooks in, the stream URL read from the carrier's markup or commands, the
stream opened to that URL's path in the carrier's dialect. Attackers connect from other
loopback addresses (127.0.1.1, 127.0.1.2, ...), each socket bound to its own source address,
so the server counts them as distinct clients.
"""

from __future__ import annotations

import asyncio
import logging
import resource
import secrets
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
import respx
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import InvalidStatus

from telephony.config import Config
from telephony.media import ulaw_to_pcm16
from telephony.observability import HIDDEN
from telephony.providers import SendAudio, SendMark
from telephony.states import TERMINAL_STATES

from .harness import ListeningSTT, QuickVoice, Served, kit_server, stream_slots
from .kits import KITS, CarrierKit

CALLER_AUDIO = bytes(range(0, 256, 2)) + bytes(32)  # 20 ms of 8 kHz mu-law, no two bytes alike
ATTACK_ADDRESSES = 500


def _address(n: int) -> str:
    """The ``n``-th attacker's loopback source address (never 127.0.0.1, the carrier's)."""
    return f"127.0.{1 + n // 250}.{1 + n % 250}"


@contextmanager
def _open_files(needed: int) -> Iterator[None]:
    """Raise this process's open-file limit: client and server ends of every socket are ours."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = needed if hard == resource.RLIM_INFINITY else min(needed, hard)
    if soft != resource.RLIM_INFINITY and soft < wanted:
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


@contextmanager
def _server_lines() -> Iterator[list[str]]:
    """Every line uvicorn logs about connections and requests (it logs each WebSocket's path)."""
    lines: list[str] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            lines.append(record.getMessage())

    handler = Keep()
    loggers = [logging.getLogger(name) for name in ("uvicorn.error", "uvicorn.access")]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
    try:
        yield lines
    finally:
        for logger, level in zip(loggers, levels, strict=True):
            logger.removeHandler(handler)
            logger.setLevel(level)


def _config(kit: CarrierKit, serve: dict[str, Any] | None = None, **streaming: Any) -> Config:
    return kit.config(
        streaming={"enabled": True, **streaming},
        serve=serve or {},
        maxConcurrentCalls=60,
        gatherTimeoutSeconds=1,  # a second of silence after the greeting re-prompts
    )


async def _start_call(kit: CarrierKit, served: Served) -> tuple[str, dict[str, str]]:
    """The carrier's "call started" webhook: the stream URL (local to our socket) and parameters."""
    assert kit.heard(await served.post(kit.call_started())) == [], "stream mode speaks on the stream"
    return served.local(kit.stream_url()), kit.stream_parameters()


async def _handshake_status(url: str, address: str = "127.0.0.1") -> int:
    """The HTTP status of an upgrade the server refuses (the socket is never accepted)."""
    with pytest.raises(InvalidStatus) as refused:
        async with connect(url, local_addr=(address, 0), open_timeout=30):
            pass  # reached only if the server accepted the socket
    return refused.value.response.status_code


async def _until_mark(kit: CarrierKit, ws: ClientConnection) -> list[Any]:
    sent: list[Any] = []
    while not sent or not isinstance(sent[-1], SendMark):
        frame = await asyncio.wait_for(ws.recv(), 10)
        assert isinstance(frame, str)
        sent.append(kit.read_frame(frame))
    return sent


async def _stream_normally(
    kit: CarrierKit, url: str, parameters: dict[str, str], stt: ListeningSTT, during: Callable[[], None]
) -> None:
    """The carrier's stream: greeting to its mark, caller audio, the re-prompt after the silence.

    ``during`` runs once the stream is live, to look at the server while it is.
    """
    before = len(stt.heard)
    async with connect(url, open_timeout=30) as ws:
        await ws.send(kit.start_frame(parameters))
        greeting = await _until_mark(kit, ws)
        assert any(isinstance(item, SendAudio) for item in greeting)
        during()
        await ws.send(kit.media_frame(CALLER_AUDIO))
        await ws.send(kit.mark_frame(greeting[-1].name))
        reprompt = await _until_mark(kit, ws)
        assert any(isinstance(item, SendAudio) for item in reprompt), "the call goes on"
    assert bytes(stt.heard[before:]) == ulaw_to_pcm16(CALLER_AUDIO), "the caller was heard"


async def _eventually(check: Callable[[], bool], what: str) -> None:
    for _ in range(400):
        if check():
            return
        await asyncio.sleep(0.025)
    raise AssertionError(f"never happened: {what}")


def _rejected(served: Served, status: int) -> float:
    counter = served.runtime.metrics.rejected_requests.labels(str(status))
    return float(counter._value.get())


async def test_wrong_reused_and_other_calls_tokens_are_refused_at_the_handshake_holding_no_slot(
    kit: CarrierKit, no_network: respx.MockRouter, caplog: pytest.LogCaptureFixture
) -> None:
    # One pending slot in all and one live slot: a refusal that took either would show.
    other = KITS[kit.name]()
    other.provider_call_id = kit.provider_call_id[:-1] + ("9" if kit.provider_call_id[-1] != "9" else "8")
    other.mock_api(no_network)
    stt = ListeningSTT()
    config = _config(kit, maxPendingConnections=1, maxPendingConnectionsPerIp=1, maxConnections=1)
    caplog.set_level(logging.DEBUG)
    async with kit_server(kit, config, stt=stt, tts=QuickVoice()) as served:
        other.bind(served.runtime)
        slots = stream_slots(served.app)
        bare = served.ws_base + "/voice/stream"
        async with connect(bare, local_addr=("127.0.0.2", 0)) as stranger:  # fills the pending pool
            await _eventually(lambda: slots.pending == 1, "the stranger waits in the pending pool")
            assert other.heard(await served.post(other.call_started())) == []
            other_url, other_parameters = served.local(other.stream_url()), other.stream_parameters()
            url, parameters = await _start_call(kit, served)
            assert url != other_url
            call_path = url.rsplit("/", 1)[0]
            with _server_lines() as lines:
                refused = {
                    "wrong token": f"{call_path}/{secrets.token_urlsafe(24)}",
                    "the other call's token": f"{call_path}/{other_parameters['token']}",
                    "no such call": url.replace(parameters["callId"], "f" * 16),
                    "junk": f"{call_path}/{'%ff' * 100}",
                }
                for what, wrong in refused.items():
                    assert await _handshake_status(wrong) == 403, what
                    assert (slots.pending, slots.live) == (1, 0), f"{what}: no slot taken"

                def live() -> None:
                    assert (slots.pending, slots.live) == (1, 1), "a live slot, never the pending pool"

                await _stream_normally(kit, url, parameters, stt, live)
                assert await _handshake_status(url) == 403, "reused"
                assert (slots.pending, slots.live) == (1, 0)
                # The other call's token, shown for this call, was refused without being spent.
                saved = kit.provider_call_id
                kit.provider_call_id = other.provider_call_id  # its carrier call id in the start frame
                try:
                    await _stream_normally(kit, other_url, other_parameters, stt, live)
                finally:
                    kit.provider_call_id = saved
            assert stranger.state.name == "OPEN", "the stranger never got further"
        await _eventually(lambda: (slots.pending, slots.live) == (0, 0), "every slot freed")
        assert _rejected(served, 403) == len(refused) + 1
        calls = await served.runtime.store.list_calls()
    assert len(calls) == 2 and all(call.state in TERMINAL_STATES for call in calls)
    # The server logged every upgrade by its path, and no token with it.
    upgrades = [line for line in lines if '"WebSocket /voice/stream/' in line]
    assert any("[accepted]" in line for line in upgrades) and any("403" in line for line in upgrades)
    assert all(line.count("/") >= 4 and f"/{HIDDEN}" in line for line in upgrades), upgrades
    ours = "\n".join(r.getMessage() for r in caplog.records if r.name.startswith(("telephony", "uvicorn")))
    for token in (parameters["token"], other_parameters["token"]):
        leaked = [line for line in lines if token in line]
        assert not leaked, leaked
        assert token not in ours


async def _attack(served: Served, call_id: str, streaming: Callable[[], Awaitable[None]]) -> list[int]:
    """2,000 idle and junk sockets from 500 addresses, then ``streaming`` beside 500 junk upgrades.

    Per address: a TCP connection that sends nothing, one that sends half an upgrade request,
    and an upgrade to the bare stream path that then says nothing (held until the block ends);
    and, while the real call streams, an upgrade naming the real call with a made-up token, or
    a made-up call. Returns the HTTP statuses the junk upgrades got.
    """
    host, port = served.ws_base.removeprefix("ws://").rsplit(":", 1)
    bare = served.ws_base + "/voice/stream"
    writers: list[asyncio.StreamWriter] = []
    sockets: list[ClientConnection] = []
    gate = asyncio.Semaphore(64)

    async def idle(address: str, request: bytes) -> None:
        async with gate:
            _, writer = await asyncio.open_connection(host, int(port), local_addr=(address, 0))
            writers.append(writer)
            if request:
                writer.write(request)
                await writer.drain()

    async def silent(address: str) -> None:
        async with gate:
            sockets.append(await connect(bare, local_addr=(address, 0), open_timeout=60))

    async def junk(n: int) -> int:
        call = call_id if n % 2 else secrets.token_hex(8)
        async with gate:
            return await _handshake_status(f"{bare}/{call}/{secrets.token_urlsafe(24)}", _address(n))

    half = b"GET /voice/stream HTTP/1.1\r\nHost: voice.example.com\r\nUpgrade: websocket\r\n"
    addresses = [_address(n) for n in range(ATTACK_ADDRESSES)]
    refusals: asyncio.Future[list[int]] | None = None
    try:
        await asyncio.gather(
            *(idle(address, b"") for address in addresses),
            *(idle(address, half) for address in addresses),
            *(silent(address) for address in addresses),
        )
        refusals = asyncio.gather(*(junk(n) for n in range(ATTACK_ADDRESSES)))
        await streaming()
        return list(await refusals)
    finally:
        if refusals is not None and not refusals.done():
            refusals.cancel()
            await asyncio.gather(refusals, return_exceptions=True)
        for writer in writers:
            writer.close()
        await asyncio.gather(*(ws.close() for ws in sockets), return_exceptions=True)


async def test_two_thousand_idle_and_junk_sockets_from_500_addresses_do_not_stop_a_signed_call(
    kit: CarrierKit,
) -> None:
    # Idle sockets are kept as long as the server lets anyone keep them: the request deadline
    # and the start-message wait are raised out of the way, the attackers' best case.
    stt = ListeningSTT()
    config = _config(kit, preStartTimeoutMs=120_000, serve={"requestTimeoutMs": 120_000})
    with _open_files(4 * ATTACK_ADDRESSES * 2 + 1024):
        async with kit_server(kit, config, stt=stt, tts=QuickVoice()) as served:
            slots = stream_slots(served.app)
            pool = config.streaming.max_pending_connections
            url, parameters = await _start_call(kit, served)
            seen: list[tuple[int, int]] = []

            def during() -> None:
                seen.append((slots.pending, slots.live))

            async def streaming() -> None:
                await _stream_normally(kit, url, parameters, stt, during)

            statuses = await _attack(served, parameters["callId"], streaming)
            await _eventually(lambda: (slots.pending, slots.live) == (0, 0), "every slot freed")
            call = await served.runtime.store.get(parameters["callId"])
    assert seen == [(pool, 1)], "the pending pool was full of strangers; the real stream was live"
    assert statuses == [403] * ATTACK_ADDRESSES, "every junk upgrade refused at the handshake"
    assert call is not None and call.no_input_count == 1, "the re-prompt came after the heard silence"
