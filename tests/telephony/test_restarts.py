"""Restarts: stream calls that died with their process are ended, and SIGTERM drains live calls.

The process tests run the server as ``telephony serve`` runs it (``tests/stream_server.py``),
kill it with SIGKILL or stop it with SIGTERM mid stream call, and look at what the carrier was
asked (its REST API is mocked inside the server process) and at what the shared store holds.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
import respx
from conftest import TWILIO_CALLS
from server_process import wait_until_serving
from test_exactly_once import post_signed
from test_stream_seed import CONNECTED, STREAM_SID, _start
from test_stream_turns import _media, _tone
from twilio_helpers import CALL_SID, WEBHOOK_URL, incoming_call, twilio_config, twiml
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from telephony.lines import SHUTDOWN_GOODBYE
from telephony.liveness import stream_lease_id
from telephony.providers import SegmentingTranscriptionStream, SynthesizedAudio, Turn
from telephony.runtime import Runtime
from telephony.server import background_server, create_app, free_port
from telephony.store import CallRecord, CallStore, ClaimOutcome, MemoryCallStore, SqliteCallStore

TESTS = Path(__file__).resolve().parent.parent
LEASE_MS = 1000


def _sid(n: int) -> str:
    return f"CA{n:032d}"


async def _ring(client: httpx.AsyncClient, sid: str) -> Any:
    """An inbound call rings in; returns the TwiML answer."""
    answer = await post_signed(client, WEBHOOK_URL, incoming_call(sid))
    assert answer.status_code == 200, answer.text
    return twiml(answer.text)


async def _frames_until_mark(ws: ClientConnection) -> list[dict[str, Any]]:
    frames = []
    while True:
        frame = json.loads(await ws.recv())
        frames.append(frame)
        if frame["event"] == "mark":
            return frames


async def _ack(ws: ClientConnection, mark: dict[str, Any]) -> None:
    await ws.send(json.dumps({"event": "mark", "streamSid": STREAM_SID, "mark": mark["mark"]}))


@asynccontextmanager
async def _stream_call(client: httpx.AsyncClient, port: int, sid: str) -> AsyncIterator[ClientConnection]:
    """Ring in, open the stream the answer names, and hear the greeting out (its mark acknowledged)."""
    node = (await _ring(client, sid)).find("Connect/Stream")
    assert node is not None
    params = {p.attrib["name"]: p.attrib["value"] for p in node.findall("Parameter")}
    async with connect(f"ws://127.0.0.1:{port}/voice/stream") as ws:
        await ws.send(CONNECTED)
        await ws.send(_start(params, sid))
        await _ack(ws, (await _frames_until_mark(ws))[-1])
        yield ws


async def _until(condition: Any, what: str, seconds: float = 30) -> Any:
    deadline = time.monotonic() + seconds
    while True:
        value = await condition()
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.05)


# ---------------------------------------------------------------------- the lease and the sweep


async def test_a_live_stream_holds_its_lease_and_gives_it_up_when_it_ends(
    twilio_api: respx.MockRouter,
) -> None:
    store = MemoryCallStore()
    config = twilio_config(streaming=True)
    runtime = Runtime.build(config, store=store, tts=_Quiet(), stt=_Deaf())
    port = free_port()
    async with (
        background_server(create_app(config, runtime=runtime), port=port) as base,
        httpx.AsyncClient(base_url=base, timeout=20) as client,
    ):
        async with _stream_call(client, port, CALL_SID):
            (record,) = await store.list_calls()
            lease = stream_lease_id(record.call_id)
            assert await store.claim_event(lease, record.call_id, lease_seconds=60) is ClaimOutcome.RUNNING
            await runtime.engine.stream_reconciler().sweep()
            assert not (await runtime.engine.get_call(record.call_id)).terminal
        await _until(lambda: _terminal(store, record.call_id), "the call to end with its stream")
        assert await store.claim_event(lease, record.call_id, lease_seconds=60) is ClaimOutcome.WON


async def _terminal(store: CallStore, call_id: str) -> CallRecord | None:
    record = await store.get(call_id)
    return record if record is not None and record.terminal else None


class _Quiet:
    async def synthesize(self, text: str) -> AsyncIterator[SynthesizedAudio]:
        yield SynthesizedAudio(pcm=b"\x00\x00" * 1600, sample_rate=16000)


class _Deaf:
    sample_rate = 16000

    async def open_stream(self, *, language: str = "en-US") -> SegmentingTranscriptionStream:
        async def nothing(pcm: bytes, rate: int) -> tuple[str, float | None]:
            return "", None

        return SegmentingTranscriptionStream(nothing, self.sample_rate)


async def test_the_sweep_ends_only_stream_calls_no_instance_holds(no_network: respx.MockRouter) -> None:
    hung_up = no_network.post(url__regex=rf"{TWILIO_CALLS}/\w+\.json").mock(
        return_value=httpx.Response(404, json={"code": 20404, "message": "not found", "status": 404})
    )
    store = MemoryCallStore()
    config = twilio_config(streaming={"enabled": True, "leaseMs": 2000, "preStartTimeoutMs": 1000})
    runtime = Runtime.build(config, store=store, tts=_Quiet(), stt=_Deaf())
    now = time.time()
    said = [Turn(speaker="bot", text="Hello!", at=now - 60)]

    async def call(n: int, *, answered: float | None, media: str = "stream", lines: list[Turn] = said) -> str:
        record = CallRecord(
            call_id=f"call{n}",
            provider="twilio",
            provider_call_id=_sid(n),
            direction="inbound",
            state="active" if answered is not None else "ringing",
            media=media,  # type: ignore[arg-type]
            created_at=now - 70,
            answered_at=None if answered is None else now - answered,
            transcript=list(lines),
        )
        await store.create(record)
        return record.call_id

    died = await call(1, answered=60)
    never = await call(2, answered=60, lines=[])
    connecting = await call(3, answered=1, lines=[])  # within preStartTimeoutMs + leaseMs (3 s)
    elsewhere = await call(4, answered=60)
    markup = await call(5, answered=60, media="markup")
    ringing = await call(6, answered=None, lines=[])
    assert (
        await store.claim_event(stream_lease_id(elsewhere), elsewhere, lease_seconds=60) is ClaimOutcome.WON
    )

    assert sorted(await runtime.engine.stream_reconciler().sweep()) == [died, never]

    ended = {c: await store.get(c) for c in (died, never)}
    assert {c: (r.state, r.end_reason) for c, r in ended.items() if r} == {
        died: ("error", "stream-lost"),
        never: ("error", "stream-not-connected"),
    }
    asked = sorted(call.request.url.path.rsplit("/", 1)[-1] for call in hung_up.calls)
    assert asked == [f"{_sid(1)}.json", f"{_sid(2)}.json"]  # "already ended" (20404) is success
    for untouched in (connecting, elsewhere, markup, ringing):
        record = await store.get(untouched)
        assert record is not None and not record.terminal
    assert await store.count_active("inbound") == 4
    # The sweep gave back the leases it took while deciding.
    assert await store.claim_event(stream_lease_id(died), died, lease_seconds=60) is ClaimOutcome.WON


async def test_a_stream_whose_lease_a_sweep_holds_is_refused(twilio_api: respx.MockRouter) -> None:
    store = MemoryCallStore()
    config = twilio_config(streaming=True)
    runtime = Runtime.build(config, store=store, tts=_Quiet(), stt=_Deaf())
    port = free_port()
    async with (
        background_server(create_app(config, runtime=runtime), port=port) as base,
        httpx.AsyncClient(base_url=base, timeout=20) as client,
    ):
        node = (await _ring(client, CALL_SID)).find("Connect/Stream")
        assert node is not None
        params = {p.attrib["name"]: p.attrib["value"] for p in node.findall("Parameter")}
        # A sweep on another instance is ending this call: it holds the stream lease.
        assert (
            await store.claim_event(stream_lease_id(params["callId"]), None, lease_seconds=60)
            is ClaimOutcome.WON
        )
        async with connect(f"ws://127.0.0.1:{port}/voice/stream") as ws:
            await ws.send(_start(params))
            with pytest.raises(ConnectionClosed) as closed:
                await ws.recv()
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1008
        assert not runtime.engine.has_stream(params["callId"])


async def test_a_draining_server_refuses_new_calls_and_says_so_on_health(
    twilio_api: respx.MockRouter,
) -> None:
    config = twilio_config()
    runtime = Runtime.build(config, store=MemoryCallStore())
    async with (
        background_server(create_app(config, runtime=runtime), port=free_port()) as base,
        httpx.AsyncClient(base_url=base, timeout=20) as client,
    ):
        assert (await client.get("/health")).status_code == 200
        await runtime.drain(0)  # no stream calls: returns at once
        health = await client.get("/health")
        placed = await client.post(
            "/api/calls", json={"to": "+14155550100", "message": "Hi", "mode": "notify"}
        )
        rung = await _ring(client, CALL_SID)
    assert health.status_code == 503 and health.json()["status"] == "draining"
    assert placed.status_code == 503 and "stopping" in placed.json()["error"]
    assert rung.tag == "Response" and rung.find("Reject").attrib["reason"] == "busy"  # type: ignore[union-attr]
    assert not [call for call in twilio_api.calls if call.request.url.host == "api.twilio.com"]  # no dial


# ---------------------------------------------------------------------- real processes


def _serve(
    directory: Path, port: int, *, drain_ms: int = 30_000, max_calls: int = 1
) -> subprocess.Popen[bytes]:
    """The server of ``stream_server.py``; its log (warnings and up) goes to ``<directory>/log``."""
    env = os.environ | {"PYTHONPATH": str(TESTS)}
    settings = [str(directory), str(port), str(LEASE_MS), str(drain_ms), str(max_calls)]
    with (directory / "log").open("ab") as log:
        return subprocess.Popen(
            [sys.executable, str(TESTS / "stream_server.py"), *settings], env=env, stderr=log
        )


def _audio_words(frames: list[dict[str, Any]]) -> int:
    """How many words a line played as ``stream_server``'s tone had (five 20 ms frames each)."""
    return sum(frame["event"] == "media" for frame in frames) // 5


def _hangups(directory: Path) -> list[str]:
    log = directory / "hangups"
    return log.read_text().splitlines() if log.exists() else []


async def _stored(directory: Path, sid: str) -> CallRecord:
    store = SqliteCallStore(directory)
    try:
        record = await store.get_by_provider_id("twilio", sid)
    finally:
        await store.close()
    assert record is not None, sid
    return record


async def test_after_kill_9_mid_stream_the_restarted_server_ends_the_lost_call_and_takes_new_ones(
    tmp_path: Path,
) -> None:
    directory, port = tmp_path / "store", free_port()
    directory.mkdir()
    server = _serve(directory, port, max_calls=1)
    try:
        await wait_until_serving(port, server)
        async with (
            httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30) as client,
            _stream_call(client, port, _sid(1)) as ws,
        ):
            server.send_signal(signal.SIGKILL)
            server.wait()
            with pytest.raises(ConnectionClosed):
                await ws.recv()  # the socket died with the process
    finally:
        server.kill()
        server.wait()
    assert not (await _stored(directory, _sid(1))).terminal  # the dead process ended nothing

    server = _serve(directory, port, max_calls=1)
    try:
        await wait_until_serving(port, server)

        async def reconciled() -> CallRecord | None:
            record = await _stored(directory, _sid(1))
            return record if record.terminal else None

        lost = await _until(reconciled, "the lost stream call to be ended")
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
            answer = await _ring(client, _sid(2))  # at maxConcurrentCalls = 1
    finally:
        server.kill()
        server.wait()
    assert (lost.state, lost.end_reason) == ("error", "stream-lost")
    assert f"{_sid(1)} completed" in _hangups(directory)
    assert answer.find("Connect/Stream") is not None, "the new call was refused"


async def test_sigterm_drains_live_stream_calls_then_says_goodbye_to_the_rest(tmp_path: Path) -> None:
    directory, port = tmp_path / "store", free_port()
    directory.mkdir()
    server = _serve(directory, port, drain_ms=6000, max_calls=5)
    try:
        await wait_until_serving(port, server)
        async with (
            httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30) as client,
            _stream_call(client, port, _sid(1)) as finishing,
            _stream_call(client, port, _sid(2)) as staying,
        ):
            server.send_signal(signal.SIGTERM)

            async def draining() -> bool:
                return (await client.get("/health")).status_code == 503

            await _until(draining, "the server to report draining")
            refused = await _ring(client, _sid(3))
            # The live call goes on: the caller speaks and hears the reply, then hangs up.
            for frame in _media(_tone(600) + b"\xff" * 8 * 900):
                await finishing.send(frame)
            reply = await _frames_until_mark(finishing)
            await _ack(finishing, reply[-1])
            await finishing.send(json.dumps({"event": "stop", "streamSid": STREAM_SID}))
            # The other call outlives the drain time: it hears a goodbye, and is hung up once heard.
            goodbye = await _frames_until_mark(staying)
            await _ack(staying, goodbye[-1])
            code = await asyncio.to_thread(server.wait, 30)
    finally:
        server.kill()
        server.wait()
    assert code == 0
    assert refused.find("Reject").attrib["reason"] == "busy"  # type: ignore[union-attr]
    assert _audio_words(reply) == len(["You", "said", "hello."])
    finished, stayed = await _stored(directory, _sid(1)), await _stored(directory, _sid(2))
    assert finished.state == "completed"
    assert [(t.speaker, t.text) for t in finished.transcript][1:] == [
        ("user", "hello"),
        ("bot", "You said hello."),
    ]
    assert (stayed.state, stayed.end_reason) == ("hangup-bot", "shutdown")  # its own reason
    assert finished.end_reason == "completed"
    assert stayed.transcript[-1].text == SHUTDOWN_GOODBYE
    assert _audio_words(goodbye) == len(SHUTDOWN_GOODBYE.split())
    assert "not heard in time" not in (directory / "log").read_text()  # hung up because it was heard
    assert f"{_sid(2)} completed" in _hangups(directory)
    assert (await _stored(directory, _sid(3))).state == "busy"
