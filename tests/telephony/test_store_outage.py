"""A Redis store that is killed (``kill -9``) or frozen (``SIGSTOP``) mid-call hangs up no caller.

The real app serves on a socket with its store on a private redis-server that the test breaks
and brings back on the same port. The carrier is played as it really behaves: Twilio with its
SDK's signatures, following the TwiML it is given (a ``<Redirect>`` is fetched with the call's
parameters only, never the caller's words again); Telnyx with Ed25519-signed events and its REST
commands mocked; a Twilio media stream over a real WebSocket.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

import httpx
import pytest
import respx
from redis_server import RedisProcess, breakable_redis
from telnyx_helpers import API, envelope, signed_headers, telnyx_settings
from test_exactly_once import post_signed, said, speech, start_call
from test_stream_turns import ScriptedSTT, _media, _tone
from twilio_helpers import CALL_SID, CALLER, OUR_NUMBER, WEBHOOK_URL, incoming_call, twilio_config, twiml
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from telephony.config import Config, config_from_mapping
from telephony.lines import HOLDING_LINE
from telephony.providers import AgentReply, AgentRequest, CallIdentity, SegmentingTranscriptionStream, Turn
from telephony.runtime import Runtime
from telephony.server import background_server, create_app, free_port
from telephony.store import CallRecord, CallState, MemoryCallStore, StoreHealth

UNREACHABLE = "call store unreachable"
REACHABLE = "call store reachable again"


class EchoAgent:
    """Answers every turn with what it heard, and counts the turns it was asked."""

    def __init__(self) -> None:
        self.asked: list[str] = []

    async def reply(self, request: AgentRequest) -> AgentReply:
        self.asked.append(request.transcript[-1].text)
        return AgentReply(text=f"You said: {request.transcript[-1].text}")


@pytest.fixture
def redis_process(tmp_path: Path) -> Iterator[RedisProcess]:
    with breakable_redis(tmp_path) as server:
        yield server


@asynccontextmanager
async def serving(config: Config, **parts: Any) -> AsyncIterator[tuple[httpx.AsyncClient, Runtime, int]]:
    runtime = Runtime.build(config, **parts)
    port = free_port()
    async with (
        background_server(create_app(config, runtime=runtime), port=port) as base,
        httpx.AsyncClient(base_url=base, timeout=30) as client,
    ):
        yield client, runtime, port


def outage_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    """The outage's log lines: where it starts and where it ends."""
    return [
        r.getMessage().split(" (")[0].split(" after")[0]
        for r in caplog.records
        if r.name == "telephony.store" and r.getMessage().startswith((UNREACHABLE, REACHABLE))
    ]


def redirect_of(answer: httpx.Response) -> str:
    assert answer.status_code == 200, answer.text
    node = twiml(answer.text).find("Redirect")
    assert node is not None and node.text, answer.text
    return node.text


def in_progress() -> dict[str, str]:
    """What Twilio posts when it fetches a ``<Redirect>``: the call, not the caller's words."""
    return incoming_call(CALL_SID) | {"CallStatus": "in-progress"}


async def user_lines(client: httpx.AsyncClient) -> list[tuple[str, str]]:
    [call] = (await client.get("/api/calls")).json()
    return [(t["speaker"], t["text"]) for t in call["transcript"]]


# ---------------------------------------------------------------------- markup (Twilio)


@pytest.mark.parametrize("break_it", ["kill", "freeze"])
async def test_a_markup_turn_during_an_outage_is_held_on_and_served_once_the_store_is_back(
    redis_process: RedisProcess, break_it: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    agent = EchoAgent()
    async with serving(twilio_config(store=redis_process.url), agent=agent) as (client, _, _):
        action = await start_call(client, CALL_SID)
        redis_process.kill() if break_it == "kill" else redis_process.freeze()

        held = await post_signed(client, action, speech(CALL_SID, "a table for two"))
        assert said(held) == [HOLDING_LINE]
        down = await client.get("/health")
        # The carrier comes back for the turn while the store is still away: quiet, then again.
        again = await post_signed(client, redirect_of(held), in_progress())
        assert said(again) == [] and twiml(again.text).find("Pause") is not None

        redis_process.restart() if break_it == "kill" else redis_process.thaw()
        served = await post_signed(client, redirect_of(again), in_progress())
        up = await client.get("/health")
        lines = await user_lines(client)

    assert down.status_code == 503 and down.json()["status"] == "store-unavailable"
    assert "unreachable" in down.json()["store"]
    assert said(served) == ["You said: a table for two"]
    assert twiml(served.text).find("Gather") is not None  # the call goes on listening
    assert up.status_code == 200 and up.json()["status"] == "ok"
    assert agent.asked == ["a table for two"]
    assert lines[1:] == [("user", "a table for two"), ("bot", "You said: a table for two")]
    assert outage_lines(caplog) == [UNREACHABLE, REACHABLE]
    assert not [r for r in caplog.records if r.exc_info], "no traceback for an outage"


async def test_the_first_request_after_a_restart_succeeds_on_stale_pooled_connections(
    redis_process: RedisProcess,
) -> None:
    async with serving(twilio_config(store=redis_process.url), agent=EchoAgent()) as (client, runtime, _):
        action = await start_call(client, CALL_SID)
        # Several pooled connections, all of them left stale by the restart.
        await asyncio.gather(*(runtime.store.get_reply(f"warm-{n}") for n in range(8)))
        redis_process.restart()
        first = await post_signed(client, action, speech(CALL_SID, "still there?"))
    assert said(first) == ["You said: still there?"]


async def test_a_copy_of_the_held_turns_fetch_is_served_the_same_answer_and_runs_the_agent_once(
    redis_process: RedisProcess,
) -> None:
    agent = EchoAgent()
    async with serving(twilio_config(store=redis_process.url), agent=agent) as (client, _, _):
        action = await start_call(client, CALL_SID)
        redis_process.kill()
        redirect = redirect_of(await post_signed(client, action, speech(CALL_SID, "one booking")))
        redis_process.start()
        first, copy = [await post_signed(client, redirect, in_progress()) for _ in range(2)]
        lines = await user_lines(client)
    assert said(first) == said(copy) == ["You said: one booking"]
    assert agent.asked == ["one booking"]
    assert lines.count(("user", "one booking")) == 1


async def test_a_forged_held_turn_is_refused(redis_process: RedisProcess) -> None:
    async with serving(twilio_config(store=redis_process.url), agent=EchoAgent()) as (client, _, _):
        action = await start_call(client, CALL_SID)
        redis_process.kill()
        redirect = redirect_of(await post_signed(client, action, speech(CALL_SID, "mine")))
        redis_process.start()
        # Signed, but for another carrier call than the one the held turn belongs to.
        other = incoming_call("CA" + "2" * 32) | {"CallStatus": "in-progress"}
        refused = await post_signed(client, redirect, other)
        garbled = await post_signed(client, redirect.replace("held=", "held=x"), in_progress())
        lines = await user_lines(client)
    assert refused.status_code == 400 and garbled.status_code == 400
    assert ("user", "mine") not in lines


# ---------------------------------------------------------------------- command carrier (Telnyx)


def telnyx_config(store: str) -> Config:
    data = {
        "provider": "telnyx",
        "fromNumber": OUR_NUMBER,
        "publicUrl": "https://voice.example.com",
        "inboundPolicy": "open",
        "store": store,
        "telnyx": telnyx_settings(),
    }
    return config_from_mapping(data, env={})


class TelnyxCommands:
    """Telnyx's command API, mocked: every command is noted and succeeds."""

    def __init__(self, router: respx.MockRouter) -> None:
        self.sent: list[tuple[str, dict[str, Any]]] = []
        router.post(url__regex=rf"^{API}/calls/(?P<control_id>[^/]+)/actions/(?P<command>\w+)$").mock(
            side_effect=self._command
        )

    def _command(self, request: httpx.Request, control_id: str, command: str) -> httpx.Response:
        self.sent.append((command, json.loads(request.content or b"{}")))
        return httpx.Response(200, json={"data": {"result": "ok"}})

    def spoken(self) -> list[str]:
        return [body["payload"] for command, body in self.sent if command == "speak"]


async def post_telnyx(client: httpx.AsyncClient, event_type: str, **payload: Any) -> httpx.Response:
    body = envelope(event_type, {"call_control_id": CONTROL_ID, "from": CALLER, "to": OUR_NUMBER, **payload})
    return await client.post("/voice/webhook", content=body, headers=signed_headers(body))


CONTROL_ID = "v3:outage-test-call"


async def until(condition: Callable[[], Any], what: str, seconds: float = 30) -> Any:
    deadline = time.monotonic() + seconds
    while not (value := condition()):
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.05)
    return value


async def test_a_command_carrier_turn_during_an_outage_hears_the_holding_line_then_its_reply(
    redis_process: RedisProcess, no_network: respx.MockRouter, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    api = TelnyxCommands(no_network)
    agent = EchoAgent()
    async with serving(telnyx_config(redis_process.url), agent=agent) as (client, _, _):
        ringing = await post_telnyx(client, "call.initiated", direction="incoming", state="parked")
        assert ringing.status_code == 200
        greeting = next(body for command, body in api.sent if command == "speak")
        redis_process.kill()

        words = {"transcript": "a table for two", "is_final": True, "confidence": 0.9}
        state = greeting["client_state"]
        turn = await post_telnyx(client, "call.transcription", client_state=state, transcription_data=words)
        holding = await until(lambda: HOLDING_LINE in api.spoken(), "the holding line")
        down = await client.get("/health")

        redis_process.start()
        await until(lambda: "You said: a table for two" in api.spoken(), "the agent's reply")
        up = await client.get("/health")
        lines = await user_lines(client)

    assert turn.status_code == 200 and holding
    assert down.status_code == 503 and up.status_code == 200
    assert api.spoken()[1:] == [HOLDING_LINE, "You said: a table for two"]
    reply = [body for command, body in api.sent if command == "speak"][-1]
    identity = CallIdentity.from_client_state(reply["client_state"])
    assert identity is not None and identity.kind == "gather"  # the caller's next turn is listened for
    assert agent.asked == ["a table for two"]
    assert lines[1:] == [("user", "a table for two"), ("bot", "You said: a table for two")]
    assert outage_lines(caplog) == [UNREACHABLE, REACHABLE]


# ---------------------------------------------------------------------- stream (Twilio media)

STREAM_SID = "MZ" + "7" * 32


class DeafSTT:
    """Hears nothing."""

    sample_rate = 16000

    async def open_stream(self, *, language: str = "en-US") -> SegmentingTranscriptionStream:
        async def nothing(pcm: bytes, rate: int) -> tuple[str, float | None]:
            return "", None

        return SegmentingTranscriptionStream(nothing, self.sample_rate)


class SpellingTTS:
    """Each character is one 20 ms μ-law frame of that character's code, so the far end can read it."""

    sample_rate = 8000

    async def synthesize(self, text: str) -> AsyncIterator[Any]:
        from telephony.media import ulaw_to_pcm16
        from telephony.providers import SynthesizedAudio

        for character in text:
            yield SynthesizedAudio(pcm=ulaw_to_pcm16(bytes([ord(character)])) * 160, sample_rate=8000)


def _frame(event: str, **fields: Any) -> str:
    return json.dumps({"event": event, "streamSid": STREAM_SID, **fields})


def _start(params: dict[str, str]) -> str:
    """Twilio's ``start`` message for our call, with the stream parameters our TwiML gave it."""
    start = {
        "accountSid": "AC" + "0" * 32,
        "streamSid": STREAM_SID,
        "callSid": CALL_SID,
        "tracks": ["inbound"],
        "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1},
        "customParameters": params,
    }
    return _frame("start", sequenceNumber="1", start=start)


async def heard(ws: ClientConnection) -> str:
    """What the far end hears up to the next mark (which it acknowledges), spelled out."""
    text = []
    while True:
        frame = json.loads(await ws.recv())
        if frame["event"] == "media":
            text.append(chr(base64.b64decode(frame["media"]["payload"])[0]))
        elif frame["event"] == "mark":
            await ws.send(_frame("mark", mark=frame["mark"]))
            return "".join(text)


@pytest.mark.parametrize("break_it", ["kill", "freeze"])
@pytest.mark.parametrize("turn", ["keypad", "speech"])
async def test_a_stream_turn_during_an_outage_is_kept_while_audio_flows_and_answered(
    redis_process: RedisProcess, break_it: str, turn: str, twilio_api: respx.MockRouter
) -> None:
    config = twilio_config(streaming=True, store=redis_process.url, holdingLineAfterMs=500)
    agent = EchoAgent()
    stt = ScriptedSTT(["a table for two"])
    words = "[keypad: 7]" if turn == "keypad" else "a table for two"
    async with serving(config, agent=agent, tts=SpellingTTS(), stt=stt) as (client, _, port):
        answer = await post_signed(client, WEBHOOK_URL, incoming_call(CALL_SID))
        node = ElementTree.fromstring(answer.text).find("Connect/Stream")
        assert node is not None, answer.text
        params = {p.attrib["name"]: p.attrib["value"] for p in node.findall("Parameter")}
        async with connect(f"ws://127.0.0.1:{port}/voice/stream") as ws:
            await ws.send(_start(params))
            greeting = await heard(ws)
            redis_process.kill() if break_it == "kill" else redis_process.freeze()

            if turn == "keypad":
                await ws.send(_frame("dtmf", dtmf={"track": "inbound_track", "digit": "7"}))
            else:
                for frame in _media(_tone(600) + b"\xff" * (8 * 900)):
                    await ws.send(frame)
            holding = await heard(ws)  # the caller is told to hold on: the audio keeps flowing
            for _ in range(20):  # caller audio goes on arriving while the turn waits
                await ws.send(_frame("media", media={"payload": base64.b64encode(b"\xff" * 160).decode()}))
            redis_process.restart() if break_it == "kill" else redis_process.thaw()
            reply = await heard(ws)
        call = (await client.get("/api/calls")).json()[0]

    assert greeting == "Hello! How can I help you today?"
    assert holding == HOLDING_LINE
    assert reply == f"You said: {words}"
    assert agent.asked == [words]
    lines = [(t["speaker"], t["text"]) for t in call["transcript"]]
    assert lines[1:] == [("user", words), ("bot", f"You said: {words}")]


async def test_a_status_callback_during_an_outage_is_kept_and_ends_the_call_once_the_store_is_back(
    redis_process: RedisProcess,
) -> None:
    async with serving(twilio_config(store=redis_process.url), agent=EchoAgent()) as (client, _, _):
        await start_call(client, CALL_SID)
        redis_process.kill()
        completed = incoming_call(CALL_SID) | {"CallStatus": "completed", "CallDuration": "9"}
        acknowledged = await post_signed(client, f"{WEBHOOK_URL}?kind=status", completed)
        redis_process.start()

        async def ended() -> Any:
            [call] = (await client.get("/api/calls")).json()
            return call if call["state"] == "completed" else None

        deadline = time.monotonic() + 30
        while (call := await ended()) is None:
            assert time.monotonic() < deadline, "the kept status callback was never served"
            await asyncio.sleep(0.1)
    assert acknowledged.status_code == 200
    assert call["end_reason"] == "completed"


# ---------------------------------------------------------------------- sweeps after an outage


async def test_the_lost_stream_sweep_waits_a_lease_after_the_store_comes_back(
    twilio_api: respx.MockRouter,
) -> None:
    store = MemoryCallStore()
    clock = [1000.0]
    health = StoreHealth(clock=lambda: clock[0])
    config = twilio_config(streaming={"enabled": True, "leaseMs": 2000, "preStartTimeoutMs": 1000})
    runtime = Runtime.build(config, store=store, tts=SpellingTTS(), stt=DeafSTT())
    runtime.engine.store_health = health
    now = time.time()
    record = CallRecord(
        call_id="lost1",
        provider="twilio",
        provider_call_id=CALL_SID,
        direction="inbound",
        state=CallState.ACTIVE,
        media="stream",
        created_at=now - 70,
        answered_at=now - 60,
        transcript=[Turn(speaker="bot", text="Hello!", at=now - 60)],
    )
    await store.create(record)
    sweep = runtime.engine.stream_reconciler()

    health.failed("ConnectionError: refused")
    during = await sweep.sweep()
    health.answered()
    clock[0] += 1.0  # back for half a lease: live streams may not have renewed theirs yet
    settling = await sweep.sweep()
    clock[0] += 1.5
    after = await sweep.sweep()
    assert (during, settling, after) == ([], [], ["lost1"])


async def test_a_stream_upgrade_during_an_outage_is_told_to_try_again_and_its_token_survives(
    redis_process: RedisProcess, twilio_api: respx.MockRouter
) -> None:
    config = twilio_config(streaming=True, store=redis_process.url)
    async with serving(config, tts=SpellingTTS(), stt=ScriptedSTT([])) as (client, _, port):
        answer = await post_signed(client, WEBHOOK_URL, incoming_call(CALL_SID))
        node = ElementTree.fromstring(answer.text).find("Connect/Stream")
        assert node is not None, answer.text
        url = node.attrib["url"].replace("wss://voice.example.com", f"ws://127.0.0.1:{port}")
        params = {p.attrib["name"]: p.attrib["value"] for p in node.findall("Parameter")}
        redis_process.kill()
        async with connect(url) as refused:
            with pytest.raises(ConnectionClosed) as closed:
                await refused.recv()
        redis_process.restart()
        async with connect(url) as ws:  # the credential was not spent: the retry streams
            await ws.send(_start(params))
            greeting = await heard(ws)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1013
    assert greeting == "Hello! How can I help you today?"
