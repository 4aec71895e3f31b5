"""The same conversations over a markup carrier and a command carrier, and over Twilio and Plivo.

The local carrier runs in both of its modes: ``markup`` answers each webhook with the actions,
``command`` answers every webhook empty and receives the actions as commands, with our call
identity travelling as client state (the way Telnyx Call Control works). Twilio and Plivo are
played by far ends that sign their webhooks with the carrier's SDK and follow the markup they get;
Telnyx by a far end that signs with a real Ed25519 key and carries out the REST commands it is
sent; Acme, the outside example adapter (``examples/acme``), likewise. The engine must not care
which, and neither may a restart.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any, Protocol

import pytest
import respx
from acme_far_end import ACME_CREDENTIALS, AcmeFarEnd
from litestar.testing import TestClient
from plivo_far_end import PlivoFarEnd
from plivo_helpers import AUTH_ID as PLIVO_AUTH_ID
from plivo_helpers import AUTH_TOKEN as PLIVO_AUTH_TOKEN
from telnyx_far_end import TelnyxFarEnd
from telnyx_helpers import telnyx_settings
from twilio_far_end import TwilioFarEnd
from twilio_helpers import ACCOUNT_SID, AUTH_TOKEN, from_client

from telephony.adapters.local import LocalCarrier, SimulatedCall, signed_headers
from telephony.adapters.local._wire import MARKUP_DECODER
from telephony.config import Config, config_from_mapping
from telephony.lines import NO_INPUT_GOODBYE, REPROMPT
from telephony.providers import (
    Action,
    Answer,
    CallIdentity,
    DialCallbacks,
    Gather,
    Hangup,
    NoInput,
    PlacedCall,
    Say,
    SynthesizedAudio,
    UserInput,
)
from telephony.runtime import Runtime
from telephony.server import background_server, create_app, free_port
from telephony.store import CallRecord, MemoryCallStore

MODES = ["markup", "command"]
CARRIERS = ["local-markup", "local-command", "twilio", "telnyx", "plivo", "acme"]
SCRIPT = ["Yes, this is fine.", "Goodbye."]
WEBHOOK = "http://127.0.0.1:3334/voice/webhook"
STARTED = {
    "event": "started",
    "call": "LC1",
    "direction": "inbound",
    "caller": "+14158675309",
    "callee": "+18005551212",
}
SECRET = "conversation-test-secret"
OUR_NUMBER = "+18005551212"
CALLER = "+14158675309"


def _config(mode: str, *, port: int = 3334, store: Path | None = None, **extra: Any) -> Config:
    data: dict[str, Any] = {
        "provider": "local",
        "fromNumber": OUR_NUMBER,
        "inboundPolicy": "open",
        "maxConcurrentCalls": 2,
        "serve": {"port": port},
        "agent": "builtin",
        "carriers": {"local": {"secret": SECRET, "mode": mode, "script": ["Yes, this is fine.", "Goodbye."]}},
    }
    if store is not None:
        data["store"] = str(store)
    data.update(extra)
    return config_from_mapping(data, env={})


@asynccontextmanager
async def _serving(mode: str, **extra: Any) -> AsyncIterator[Runtime]:
    port = free_port()
    config = _config(mode, port=port, **extra)
    runtime = Runtime.build(config, store=MemoryCallStore())
    async with background_server(create_app(config, runtime=runtime), port=port):
        yield runtime


class FarEnd(Protocol):
    """The carrier's side of calls: the local simulator, or Twilio played by the tests."""

    calls: dict[str, SimulatedCall]

    async def inbound_call(self, *, caller: str, callee: str, script: list[str]) -> SimulatedCall: ...


@asynccontextmanager
async def _carrier_serving(
    carrier: str, router: respx.MockRouter, **extra: Any
) -> AsyncIterator[tuple[Runtime, FarEnd]]:
    """The app on a real socket for ``carrier``, and the far end that calls it and answers its calls."""
    if carrier.startswith("local-"):
        async with _serving(carrier.removeprefix("local-"), **extra) as runtime:
            yield runtime, _carrier(runtime).simulator
        return
    port = free_port()
    public = f"http://127.0.0.1:{port}"
    if carrier == "telnyx":
        telnyx = TelnyxFarEnd(f"{public}/voice/webhook", list(SCRIPT))
        telnyx.mock_rest_api(router)
        # Telnyx never reports silence: the engine's listening timer re-prompts, so keep it short.
        overrides = {"provider": "telnyx", "publicUrl": public, "telnyx": telnyx_settings()}
        settings = {"gatherTimeoutSeconds": 1} | {k: v for k, v in extra.items() if k != "carriers"}
        runtime = Runtime.build(
            _config("markup", port=port, **overrides, **settings), store=MemoryCallStore()
        )
        async with background_server(create_app(runtime.config, runtime=runtime), port=port):
            yield runtime, telnyx
        return
    far_end: TwilioFarEnd | AcmeFarEnd | PlivoFarEnd
    credentials: dict[str, Any]
    if carrier == "acme":  # the outside example adapter (examples/acme), found by its entry point
        far_end, credentials = AcmeFarEnd(f"{public}/voice/webhook", list(SCRIPT)), ACME_CREDENTIALS
    elif carrier == "plivo":
        far_end = PlivoFarEnd(f"{public}/voice/webhook", list(SCRIPT))
        credentials = {"authId": PLIVO_AUTH_ID, "authToken": PLIVO_AUTH_TOKEN}
    else:
        far_end = TwilioFarEnd(f"{public}/voice/webhook", list(SCRIPT))
        credentials = {"accountSid": ACCOUNT_SID, "authToken": AUTH_TOKEN}
    config = _config(
        "markup",
        port=port,
        **{"provider": carrier, "publicUrl": public, carrier: credentials}
        | {k: v for k, v in extra.items() if k != "carriers"},
    )
    far_end.mock_rest_api(router)
    runtime = Runtime.build(config, store=MemoryCallStore())
    async with background_server(create_app(config, runtime=runtime), port=port):
        yield runtime, far_end


def _carrier(runtime: Runtime) -> LocalCarrier:
    carrier = runtime.carrier
    assert isinstance(carrier, LocalCarrier)
    return carrier


async def _ended(runtime: Runtime, call_id: str) -> CallRecord:
    for _ in range(200):
        record = await runtime.store.get(call_id)
        assert record is not None
        if record.terminal:
            return record
        await asyncio.sleep(0.05)
    raise AssertionError(f"call {call_id} did not end")


def _lines(call: SimulatedCall) -> list[tuple[str, str]]:
    return [(turn.speaker, turn.text) for turn in call.turns]


@pytest.mark.parametrize("carrier", CARRIERS)
async def test_inbound_conversation(carrier: str, no_network: respx.MockRouter) -> None:
    async with _carrier_serving(carrier, no_network) as (runtime, far_end):
        call = await far_end.inbound_call(
            caller=CALLER, callee=OUR_NUMBER, script=["Hello there.", "What can you do?", "Goodbye."]
        )
        record = await runtime.store.get_by_provider_id(runtime.carrier.name, call.provider_call_id)
        assert record is not None
        record = await _ended(runtime, record.call_id)
    assert _lines(call)[0] == ("bot", "Hello! How can I help you today?")
    assert [line for line in _lines(call) if line[0] == "caller"] == [
        ("caller", "Hello there."),
        ("caller", "What can you do?"),
        ("caller", "Goodbye."),
    ]
    assert _lines(call)[-1] == ("bot", "Thanks for calling. Goodbye!") and call.ended_by == "bot"
    assert record.state == "hangup-bot" and record.turn_count == 3 and record.direction == "inbound"
    assert [turn.speaker for turn in record.transcript] == ["bot", "user"] * 3 + ["bot"]
    if carrier == "local-command":
        received = _carrier(runtime).simulator.received[call.provider_call_id]
        assert isinstance(received[0], Answer), "a command carrier must be told to answer first"
        assert isinstance(received[-1], Hangup) and received[-1].after_playback
    if isinstance(far_end, AcmeFarEnd):  # answered first; hung up once the goodbye had played
        commands = [name for name, _ in far_end.commands[call.provider_call_id]]
        assert commands[0] == "answer" and commands[-2:] == ["speak", "hangup"]


@pytest.mark.parametrize("carrier", CARRIERS)
async def test_outbound_conversation(carrier: str, no_network: respx.MockRouter) -> None:
    async with _carrier_serving(carrier, no_network) as (runtime, far_end):
        record = await runtime.engine.place_call(
            to=CALLER, message="Hi, this is a test call.", mode="conversation"
        )
        record = await _ended(runtime, record.call_id)
        call = far_end.calls[record.provider_call_id or ""]
    assert _lines(call)[0] == ("bot", "Hi, this is a test call.")
    assert ("caller", "Yes, this is fine.") in _lines(call) and ("caller", "Goodbye.") in _lines(call)
    assert record.state == "hangup-bot" and record.direction == "outbound" and record.turn_count == 2
    assert record.provider_call_id == call.provider_call_id


@pytest.mark.parametrize("carrier", CARRIERS)
async def test_notify_call_says_its_message_then_hangs_up(carrier: str, no_network: respx.MockRouter) -> None:
    async with _carrier_serving(carrier, no_network) as (runtime, far_end):
        record = await runtime.engine.place_call(to=CALLER, message="Your order shipped.", mode="notify")
        record = await _ended(runtime, record.call_id)
        call = far_end.calls[record.provider_call_id or ""]
    assert _lines(call) == [("bot", "Your order shipped.")] and call.ended_by == "bot"
    assert [turn.text for turn in record.transcript] == ["Your order shipped."]
    assert record.terminal and record.turn_count == 0


@pytest.mark.parametrize("carrier", CARRIERS)
async def test_silent_caller_is_reprompted_then_told_goodbye(
    carrier: str, no_network: respx.MockRouter
) -> None:
    async with _carrier_serving(carrier, no_network, noInputRetries=2) as (runtime, far_end):
        call = await far_end.inbound_call(caller=CALLER, callee=OUR_NUMBER, script=[])
        record = await runtime.store.get_by_provider_id(runtime.carrier.name, call.provider_call_id)
        assert record is not None
        record = await _ended(runtime, record.call_id)
    bot = [text for speaker, text in _lines(call) if speaker == "bot"]
    assert bot == ["Hello! How can I help you today?", REPROMPT, REPROMPT, NO_INPUT_GOODBYE]
    assert record.state == "hangup-bot" and record.no_input_count == 3


async def test_a_carrier_that_never_reports_silence_is_reprompted_by_the_engine() -> None:
    # Command mode, and the carrier's gathers report nothing when nothing is heard: only the
    # engine's listening timer (started when the prompt has played) can move the call on.
    async with _serving(
        "command",
        noInputRetries=1,
        gatherTimeoutSeconds=1,
        carriers={"local": {"secret": SECRET, "mode": "command", "reportsSilence": False}},
    ) as runtime:
        call = await _carrier(runtime).simulator.inbound_call(caller=CALLER, callee=OUR_NUMBER, script=[])
        record = await runtime.store.get_by_provider_id("local", call.provider_call_id)
        assert record is not None
        record = await _ended(runtime, record.call_id)
    bot = [text for speaker, text in _lines(call) if speaker == "bot"]
    assert bot == ["Hello! How can I help you today?", REPROMPT, NO_INPUT_GOODBYE]
    assert record.state == "hangup-bot" and record.no_input_count == 2


# ---------------------------------------------------------------- driven webhook by webhook


@contextmanager
def _app(mode: str, store: Path) -> Iterator[tuple[TestClient[Any], LocalCarrier]]:
    """The app on a SQLite store at ``store``: building it twice on one path is a restart."""
    config = _config(mode, store=store)
    runtime = Runtime.build(config)
    with TestClient(from_client(create_app(config, runtime=runtime), "127.0.0.1")) as client:
        yield client, _carrier(runtime)


def _post(client: TestClient[Any], url: str, body: dict[str, Any]) -> Any:
    payload = json.dumps(body).encode()
    path = url.removeprefix("http://127.0.0.1:3334")
    return client.post(path, content=payload, headers=signed_headers(SECRET, url, payload))


def _answer(mode: str, response: Any, carrier: LocalCarrier, provider_call_id: str) -> list[Action]:
    """What the server asked for: the webhook's body (markup) or the commands it sent (command)."""
    assert response.status_code == 200, response.text
    if mode == "markup":
        return list(MARKUP_DECODER.decode(response.content).actions)
    assert response.content == b"", "a command carrier's webhook answer carries nothing"
    actions = carrier.simulator.received.pop(provider_call_id, [])
    return actions


def _reply_to(mode: str, gather: Gather, body: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """Where and how the carrier reports a gather's result: its URL, or the webhook plus client state."""
    if mode == "markup":
        return gather.action_url, body
    assert gather.callback is not None
    return WEBHOOK, body | {"state": gather.callback.client_state()}


@pytest.mark.parametrize("mode", MODES)
def test_a_restart_mid_call_loses_nothing(mode: str, tmp_path: Path) -> None:
    with _app(mode, tmp_path) as (client, carrier):
        actions = _answer(mode, _post(client, WEBHOOK, STARTED), carrier, "LC1")
    gather = actions[-1]
    assert isinstance(gather, Gather)
    # A new process on the same store takes the caller's answer to the first process's gather.
    with _app(mode, tmp_path) as (client, carrier):
        url, body = _reply_to(mode, gather, {"event": "input", "call": "LC1", "speech": "What time is it?"})
        actions = _answer(mode, _post(client, url, body), carrier, "LC1")
        (reply,) = actions
        assert isinstance(reply, Gather) and reply.prompt[0].text.startswith("It's")  # type: ignore[union-attr]
        calls = client.get("/api/calls").json()
    assert [turn["speaker"] for turn in calls[0]["transcript"]] == ["bot", "user", "bot"]


@pytest.mark.parametrize("mode", MODES)
def test_a_result_for_a_past_turn_is_dropped(mode: str, tmp_path: Path) -> None:
    with _app(mode, tmp_path) as (client, carrier):
        first = _answer(mode, _post(client, WEBHOOK, STARTED), carrier, "LC1")[-1]
        assert isinstance(first, Gather)
        url, body = _reply_to(mode, first, {"event": "input", "call": "LC1", "speech": "Hello."})
        second = _answer(mode, _post(client, url, body), carrier, "LC1")[-1]
        assert isinstance(second, Gather) and second.callback is not None and second.callback.turn == 2
        # A late copy of turn 1's result with other words (not a retry): it must not reach the agent.
        url, body = _reply_to(mode, first, {"event": "input", "call": "LC1", "speech": "Goodbye."})
        late = _answer(mode, _post(client, url, body), carrier, "LC1")
        record = client.get("/api/calls").json()[0]
    assert [turn["text"] for turn in record["transcript"] if turn["speaker"] == "user"] == ["Hello."]
    assert record["state"] == "speaking"  # as turn 1's reply left it
    if mode == "markup":  # the carrier waits for instructions: keep listening on the current turn
        assert len(late) == 1 and isinstance(late[0], Gather) and late[0].callback == second.callback
    else:  # a command carrier's newer gather is already running: leave it alone
        assert late == []


async def test_speak_on_a_command_carrier_sends_commands_with_the_turn_identity() -> None:
    config = _config("command")
    runtime = Runtime.build(config, store=MemoryCallStore())
    record = CallRecord(
        call_id="c1", provider="local", direction="inbound", provider_call_id="LC1", created_at=0.0
    )
    record.state = "listening"
    await runtime.store.create(record)
    await runtime.engine.speak("c1", "One more thing.")
    (gather,) = _carrier(runtime).simulator.received["LC1"]
    assert isinstance(gather, Gather) and gather.callback == CallIdentity(call_id="c1", kind="gather", turn=1)
    assert [item.text for item in gather.prompt if isinstance(item, Say)] == ["One more thing."]
    stored = await runtime.store.get("c1")
    assert stored is not None and stored.pending == [] and stored.transcript[-1].text == "One more thing."
    await runtime.aclose()


@pytest.mark.parametrize("event", [NoInput, UserInput])
async def test_stale_results_never_reach_the_agent(event: type[NoInput] | type[UserInput]) -> None:
    runtime = Runtime.build(_config("markup"), store=MemoryCallStore())
    record = CallRecord(
        call_id="c1", provider="local", direction="inbound", provider_call_id="LC1", created_at=0.0
    )
    record.state, record.gather_turn = "listening", 3
    await runtime.store.create(record)
    answer = await runtime.engine.answer(
        event(provider_call_id="LC1", event_id="e1", call_id="c1", turn=2, expects_reply=True)
    )
    stored = await runtime.store.get("c1")
    assert stored is not None and stored.transcript == [] and stored.no_input_count == 0
    assert answer is not None
    (gather,) = MARKUP_DECODER.decode(answer.body).actions
    assert isinstance(gather, Gather) and gather.callback == CallIdentity(call_id="c1", kind="gather", turn=3)
    await runtime.aclose()


def test_an_adapter_failure_is_logged_and_the_carriers_retry_starts_the_call_afresh(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with _app("markup", tmp_path) as (client, carrier):
        real = carrier.responder.respond
        failures = [RuntimeError("renderer blew up")]

        async def flaky(context: Any, actions: Any) -> Any:
            if failures:
                raise failures.pop()
            return await real(context, actions)

        carrier.responder.respond = flaky  # type: ignore[method-assign]
        first = _post(client, WEBHOOK, STARTED)
        assert first.status_code == 500
        assert "renderer blew up" in caplog.text and "Traceback" in caplog.text
        assert client.get("/api/calls?active=true").json() == [], "a failed first webhook holds no slot"
        retry = _post(client, WEBHOOK, STARTED)
        actions = _answer("markup", retry, carrier, "LC1")
        assert isinstance(actions[-1], Gather)
        calls = client.get("/api/calls").json()
    assert len(calls) == 1 and calls[0]["state"] == "listening"


@pytest.mark.parametrize("mode", MODES)
def test_a_webhook_for_an_ended_call_hangs_up_and_runs_nothing(mode: str, tmp_path: Path) -> None:
    with _app(mode, tmp_path) as (client, carrier):
        gather = _answer(mode, _post(client, WEBHOOK, STARTED), carrier, "LC1")[-1]
        assert isinstance(gather, Gather)
        call_id = client.get("/api/calls").json()[0]["call_id"]
        assert client.post(f"/api/calls/{call_id}/end").status_code == 200
        url, body = _reply_to(mode, gather, {"event": "input", "call": "LC1", "speech": "Are you there?"})
        late = _answer(mode, _post(client, url, body), carrier, "LC1")
        record = client.get(f"/api/calls/{call_id}").json()
    assert [type(action) for action in late] == [Hangup]
    assert [turn["speaker"] for turn in record["transcript"]] == ["bot"], "the agent must not run"


def test_a_command_carrier_is_hung_up_once_the_goodbye_has_played(tmp_path: Path) -> None:
    with _app("command", tmp_path) as (client, carrier):
        gather = _answer("command", _post(client, WEBHOOK, STARTED), carrier, "LC1")[-1]
        assert isinstance(gather, Gather)
        url, body = _reply_to("command", gather, {"event": "input", "call": "LC1", "speech": "Goodbye."})
        goodbye = _answer("command", _post(client, url, body), carrier, "LC1")
        assert [type(action) for action in goodbye] == [Say, Hangup]
        assert "LC1" not in carrier.control.hung_up
        # The carrier reports that the goodbye has played (Telnyx: call.speak.ended), fire and forget.
        played = _post(client, WEBHOOK, {"event": "played", "call": "LC1", "state": body["state"]})
        assert played.status_code == 200
        for _ in range(100):
            if "LC1" in carrier.control.hung_up:
                break
            time.sleep(0.01)
    assert "LC1" in carrier.control.hung_up


@pytest.mark.parametrize("mode", MODES)
async def test_stream_conversation_with_the_offline_engines(mode: str, tmp_path: Path) -> None:
    # Stream mode over both kinds of carrier: the connect-stream action arrives in the webhook's
    # answer (markup) or as a command (command mode); after that the media socket is the same.
    from telephony.cli import CALLER_VOICE, caller_voice
    from telephony.providers import TTS, load

    port = free_port()
    config = _config(
        mode,
        port=port,
        store=tmp_path,
        streaming={"enabled": True},
        stt="pocketsphinx",
        ttsEngine="espeak",
        gatherTimeoutSeconds=1,
        noInputRetries=0,
    )
    runtime = Runtime.build(config)
    carrier = _carrier(runtime)
    carrier.simulator.voice = caller_voice(load(TTS, "espeak")({"voice": CALLER_VOICE}))
    async with background_server(create_app(config, runtime=runtime), port=port):
        call = await carrier.simulator.inbound_call(caller=CALLER, callee=OUR_NUMBER, script=["goodbye"])
        record = await runtime.store.get_by_provider_id("local", call.provider_call_id)
        assert record is not None
        record = await _ended(runtime, record.call_id)
    assert call.media == "stream" and call.bot_audio_ms > 1000
    assert record.media == "stream" and record.state == "hangup-bot"
    # What the recognizer makes of the caller's words varies; the shape of the call does not.
    speakers = [turn.speaker for turn in record.transcript]
    assert speakers[:3] == ["bot", "user", "bot"] and record.transcript[1].text
    assert record.transcript[0].text == "Hello! How can I help you today?"
    assert record.transcript[-1].text in ("Thanks for calling. Goodbye!", NO_INPUT_GOODBYE)
    if mode == "command":
        received = carrier.simulator.received[call.provider_call_id]
        assert [type(action).__name__ for action in received] == ["Answer", "ConnectStream"]


def test_a_provisional_carrier_id_is_bound_by_the_first_callback(tmp_path: Path) -> None:
    # Some carriers (Plivo) answer a dial request with a request id that their callbacks never
    # carry; the first callback naming our call brings the real id, and there is one record.
    with _app("markup", tmp_path) as (client, carrier):

        async def dial(call: Any, callbacks: DialCallbacks) -> PlacedCall:
            assert callbacks.identity.call_id == call.call_id
            return PlacedCall(provider_call_id="request-1", provisional=True)

        carrier.control.place_call = dial  # type: ignore[method-assign]
        placed = client.post("/api/calls", json={"to": CALLER, "message": "Hi", "mode": "conversation"})
        assert placed.status_code == 201, placed.text
        call_id = placed.json()["call_id"]
        assert placed.json()["provider_call_id"] == "request-1"
        started = {"event": "started", "call": "LC-real", "direction": "outbound", "caller": OUR_NUMBER}
        answer = _post(client, f"{WEBHOOK}?callId={call_id}&kind=answer", started | {"callee": CALLER})
        gather = _answer("markup", answer, carrier, "LC-real")[-1]
        assert isinstance(gather, Gather)
        # Later callbacks may name only the carrier's id: they find the same call.
        ended = _post(client, WEBHOOK, {"event": "ended", "call": "LC-real", "reason": "hangup-user"})
        assert ended.status_code == 200
        calls = client.get("/api/calls").json()
    assert len(calls) == 1
    assert calls[0]["provider_call_id"] == "LC-real" and calls[0]["state"] == "hangup-user"


class _LongVoice:
    """Bot speech that takes a while to play (two seconds of quiet per line), as a long reply does."""

    async def synthesize(self, text: str) -> AsyncIterator[SynthesizedAudio]:
        for _ in range(20):
            yield SynthesizedAudio(pcm=b"\x00\x00" * 1600, sample_rate=16000)


@pytest.mark.parametrize("mode", MODES)
async def test_barge_in_clears_playback_and_trims_the_transcript(mode: str) -> None:
    from test_stream_turns import ScriptedSTT, _tone

    port = free_port()
    config = _config(mode, port=port, streaming={"enabled": True})
    runtime = Runtime.build(
        config, store=MemoryCallStore(), stt=ScriptedSTT(["stop please"]), tts=_LongVoice()
    )
    carrier = _carrier(runtime)
    carrier.simulator.talks_over = True
    carrier.simulator.stream_idle_seconds = 3  # then the caller hangs up

    async def voice(text: str) -> bytes:
        return _tone(600)

    carrier.simulator.voice = voice
    async with background_server(create_app(config, runtime=runtime), port=port):
        call = await carrier.simulator.inbound_call(caller=CALLER, callee=OUR_NUMBER, script=["stop please"])
        record = await runtime.store.get_by_provider_id("local", call.provider_call_id)
    assert call.flushes >= 1, "the carrier must be told to drop the rest of the greeting"
    assert record is not None
    greeting = record.transcript[0]
    assert greeting.speaker == "bot" and greeting.text.endswith("…")
    assert len(greeting.text) < len("Hello! How can I help you today?") + 1
    assert record.barge_ins == 1
    assert [(turn.speaker, turn.text) for turn in record.transcript[1:2]] == [("user", "stop please")]


@pytest.mark.parametrize("mode", MODES)
async def test_a_stream_that_never_gets_through_goes_on_as_a_markup_conversation(mode: str) -> None:
    # The far end is told to open a stream and never does (a tunnel that passes webhooks only):
    # the same call goes on in markup mode, and the caller talks to the agent to the end.
    from test_stream_turns import ScriptedSTT

    port = free_port()
    config = _config(mode, port=port, streaming={"enabled": True, "startTimeoutMs": 200})
    runtime = Runtime.build(config, store=MemoryCallStore(), stt=ScriptedSTT([]), tts=_LongVoice())
    carrier = _carrier(runtime)
    carrier.simulator.opens_streams = False
    async with background_server(create_app(config, runtime=runtime), port=port):
        call = await carrier.simulator.inbound_call(
            caller=CALLER, callee=OUR_NUMBER, script=["What time is it?", "Goodbye."]
        )
        record = await runtime.store.get_by_provider_id("local", call.provider_call_id)
        assert record is not None
        record = await _ended(runtime, record.call_id)
    assert call.media == "markup" and call.ended_by == "bot"
    assert _lines(call)[0] == ("bot", "Hello! How can I help you today?")
    assert [text for speaker, text in _lines(call) if speaker == "caller"] == ["What time is it?", "Goodbye."]
    assert record.media == "markup" and record.state == "hangup-bot" and record.turn_count == 2
    if mode == "markup":
        assert [url.split("&kind=")[1] for url in carrier.control.redirects] == ["pending&turn=1"]
