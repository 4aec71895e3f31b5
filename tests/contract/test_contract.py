"""The carrier contract suite: one test body per contract, run over every registered carrier.

Each test drives the real app the way the carrier would, through the carrier's kit
(:mod:`.kits`): signed webhooks in, the carrier's markup or REST commands out, its media
dialect on the stream socket, its REST API mocked. The conversations themselves (inbound,
outbound, notify, silence) run over the same carriers in ``tests/telephony/test_conversations.py``.
"""

from __future__ import annotations

import base64
import json
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import anyio
import msgspec
import pytest
import respx
from litestar.exceptions import WebSocketDisconnect
from litestar.testing import TestClient

from telephony.media import ulaw_to_pcm16
from telephony.observability import RateLimitedLog
from telephony.providers import (
    AgentReply,
    AgentRequest,
    AudioReceived,
    ClearAudio,
    MarkReached,
    OutboundMedia,
    SendAudio,
    SendMark,
    StreamStarted,
)
from telephony.runtime import Runtime
from telephony.states import TERMINAL_STATES

from .harness import ListeningSTT, QuickVoice, kit_app
from .kits import CAPABILITIES, PUBLIC_URL, CarrierKit, Webhook

GREETING = "Hello! How can I help you today?"


def _require(kit: CarrierKit, capability: str) -> None:
    assert capability in CAPABILITIES, capability
    if capability in kit.lacks:
        pytest.skip(f"{kit.name} has no {CAPABILITIES[capability]}")


def _calls(client: TestClient[Any]) -> list[dict[str, Any]]:
    response = client.get("/api/calls")
    assert response.status_code == 200, response.text
    calls: list[dict[str, Any]] = response.json()
    return calls


def _the_call(client: TestClient[Any]) -> dict[str, Any]:
    (call,) = _calls(client)
    return call


def _user_lines(call: dict[str, Any]) -> list[str]:
    return [turn["text"] for turn in call["transcript"] if turn["speaker"] == "user"]


# ---------------------------------------------------------------- 1. signatures


def test_signatures_good_bad_tampered_and_replayed(kit: CarrierKit, no_network: respx.MockRouter) -> None:
    with kit_app(kit, kit.config()) as (client, _):
        started = kit.call_started()
        content_type = {k: v for k, v in started.headers.items() if k.lower() == "content-type"}
        refusals = {
            "unsigned": Webhook(started.url, started.body, content_type),
            "forged": kit.forged(started),
            "tampered": kit.tampered(started),
        }
        for name, hook in refusals.items():
            refused = hook.post(client)
            assert refused.status_code in (401, 403), f"{name}: {refused.status_code} {refused.text}"
        assert _calls(client) == [], "a refused webhook stores nothing"
        assert [call.request.url for call in no_network.calls] == [], "and sends the carrier nothing"
        accepted = started.post(client)
        greeting = kit.heard(accepted)
        assert GREETING in greeting
        # The carrier retries a webhook it thinks was lost: the very same request, signature and all.
        again = started.post(client)
        assert (again.status_code, again.content) == (accepted.status_code, accepted.content)
        assert kit.heard(again) == (greeting if again.content else []), "nothing is carried out twice"
        said = kit.said("What time is it?")
        first = said.post(client)
        (reply,) = kit.heard(first)
        assert reply.startswith("It's")
        again = said.post(client)
        assert again.status_code == first.status_code
        assert kit.heard(again) == ([reply] if again.content else [])
        assert again.content == first.content
        call = _the_call(client)
    assert _user_lines(call) == ["What time is it?"], "a replay is not a second user turn"
    assert [turn["speaker"] for turn in call["transcript"]] == ["bot", "user", "bot"]


# ---------------------------------------------------------------- 2. media


def _until_mark(kit: CarrierKit, ws: Any) -> list[OutboundMedia]:
    """Our frames up to and including the next mark, read back in the carrier's dialect."""
    sent: list[OutboundMedia] = []
    while not sent or not isinstance(sent[-1], SendMark):
        sent.append(kit.read_frame(ws.receive_text(timeout=5)))
    return sent


def _stream_app(
    kit: CarrierKit, stt: ListeningSTT | None = None, tts: QuickVoice | None = None, **settings: Any
) -> Any:
    _require(kit, "streams")
    streaming = {"enabled": True} | settings.pop("streaming", {})
    config = kit.config(streaming=streaming, **settings)
    return kit_app(kit, config, stt=stt or ListeningSTT(), tts=tts or QuickVoice())


def _open_stream(kit: CarrierKit, client: TestClient[Any], runtime: Runtime) -> tuple[str, dict[str, str]]:
    """The call started in stream mode: the stream URL's path, and its start message parameters.

    The URL names the call and its token in the path, on the public base, as the carrier gets it.
    """
    assert kit.heard(kit.call_started().post(client)) == [], "stream mode speaks on the stream"
    parameters = kit.stream_parameters()
    assert set(parameters) == {"token", "callId"}
    credential = f"/{parameters['callId']}/{parameters['token']}"
    assert kit.stream_url() == PUBLIC_URL.replace("https://", "wss://") + "/voice/stream" + credential
    return urlsplit(kit.stream_url()).path, parameters


def test_media_round_trip_with_marks_and_clear(kit: CarrierKit) -> None:
    caller_audio = bytes(range(0, 256, 2)) + bytes(32)  # 20 ms of 8 kHz mu-law, no two alike
    stt = ListeningSTT()
    # Listening starts once the greeting's mark comes back; a second of silence then re-prompts.
    with _stream_app(kit, stt, gatherTimeoutSeconds=1) as (client, runtime):
        path, parameters = _open_stream(kit, client, runtime)
        with client.websocket_connect(path) as ws:
            ws.send_text(kit.start_frame(parameters))
            greeting = _until_mark(kit, ws)
            audio = b"".join(item.payload for item in greeting if isinstance(item, SendAudio))
            assert len(audio) >= 800 and set(audio) == {0xFF}, "QuickVoice's silence, in mu-law"
            mark = greeting[-1]
            assert isinstance(mark, SendMark)
            ws.send_text(kit.media_frame(caller_audio))
            ws.send_text(kit.mark_frame(mark.name))
            reprompt = _until_mark(kit, ws)
            assert any(isinstance(item, SendAudio) for item in reprompt)
            assert _the_call(client)["no_input_count"] == 1, "the re-prompt follows the acknowledged mark"
        # Frames are read in order: the caller's audio was heard before the mark came back.
        assert bytes(stt.heard) == ulaw_to_pcm16(caller_audio)
        # The same dialect, frame by frame, through a session opened from the carrier's start frame.
        codec = runtime.carrier.codec
        started = codec.decode(kit.start_frame(parameters))
        assert isinstance(started, StreamStarted)
        assert started.provider_call_id == kit.provider_call_id and started.parameters == parameters
        session = codec.session(started)
        audio = bytes(range(160))
        received = session.decode(kit.media_frame(audio))
        assert isinstance(received, AudioReceived) and received.payload == audio
        for message in (SendAudio(payload=audio), SendMark(name="utterance-1"), ClearAudio()):
            assert kit.read_frame(session.encode(message)) == message
        assert session.decode(kit.mark_frame("utterance-1")) == MarkReached(name="utterance-1")


class _SendDigits(msgspec.Struct, frozen=True):
    """An outbound message no dialect knows (one the contracts might add one day)."""

    digits: str


def test_encoding_a_message_the_dialect_cannot_frame_fails_naming_it(kit: CarrierKit) -> None:
    with kit_app(kit, kit.config()) as (_, runtime):
        codec = runtime.carrier.codec
        started = codec.decode(kit.start_frame({"callId": "c1", "token": "t1"}))
        assert isinstance(started, StreamStarted)
        session = codec.session(started)
        foreign: Any = _SendDigits(digits="42")
        with pytest.raises(AssertionError, match=r"_SendDigits\(digits='42'\)"):
            session.encode(foreign)


def _refused(ws: Any) -> int:
    with pytest.raises(WebSocketDisconnect) as closed:
        ws.receive_text(timeout=5)
    return closed.value.code


def _refused_at_handshake(client: TestClient[Any], path: str) -> int:
    """The close code of a socket refused before it was accepted (a real server answers 403)."""
    with pytest.raises(WebSocketDisconnect) as refused, client.websocket_connect(path):
        pass  # reached only if the socket was accepted
    return refused.value.code


def test_a_stream_opens_only_with_its_own_fresh_token(kit: CarrierKit) -> None:
    # The stream URL's credential is its signature: the token the server sent with the call, once,
    # checked before the socket is accepted. The start frame must name the same call and token.
    with _stream_app(kit) as (client, runtime):
        path, parameters = _open_stream(kit, client, runtime)
        call_path = path.rsplit("/", 1)[0]
        assert _refused_at_handshake(client, f"{call_path}/not-the-token") == 1008
        with client.websocket_connect("/voice/stream") as forged:  # the bare path: the start frame alone
            forged.send_text(kit.start_frame(parameters | {"token": "not-the-token"}))
            assert _refused(forged) == 1008
        with client.websocket_connect(path) as ws:
            ws.send_text(kit.start_frame(parameters))
            assert isinstance(kit.read_frame(ws.receive_text(timeout=5)), SendAudio)
            assert _refused_at_handshake(client, path) == 1008, "the token was spent on the upgrade"
            with client.websocket_connect("/voice/stream") as replayed:
                replayed.send_text(kit.start_frame(parameters))
                assert _refused(replayed) == 1008
            assert _the_call(client)["state"] not in TERMINAL_STATES, "a refused stream ends nothing"


def test_the_bare_stream_path_still_streams_by_the_start_frames_token(kit: CarrierKit) -> None:
    # The second line, for adapters that render no path: a pending socket, then the start frame.
    with _stream_app(kit) as (client, runtime):
        path, parameters = _open_stream(kit, client, runtime)
        with client.websocket_connect("/voice/stream") as ws:
            ws.send_text(kit.start_frame(parameters))
            assert isinstance(kit.read_frame(ws.receive_text(timeout=5)), SendAudio)
            assert _refused_at_handshake(client, path) == 1008, "one token, one stream"


def test_talking_over_the_bot_clears_the_carriers_queue(kit: CarrierKit) -> None:
    with _stream_app(kit, ListeningSTT(barge_in=True), QuickVoice(seconds=3)) as (client, runtime):
        path, parameters = _open_stream(kit, client, runtime)
        with client.websocket_connect(path) as ws:
            ws.send_text(kit.start_frame(parameters))
            first = kit.read_frame(ws.receive_text(timeout=5))
            assert isinstance(first, SendAudio), "the greeting starts playing"
            ws.send_text(kit.media_frame(b"\x10" * 160))  # the caller starts to speak
            sent: list[OutboundMedia] = []
            while not sent or not isinstance(sent[-1], ClearAudio):
                sent.append(kit.read_frame(ws.receive_text(timeout=5)))
            assert not any(isinstance(item, SendMark) for item in sent), "cleared before its mark"
            greeting = _the_call(client)["transcript"][0]
    assert greeting["speaker"] == "bot" and greeting["text"].endswith("…"), "only what was heard is kept"


def _swapped(frame: str, old: Any, new: Any) -> str:
    """``frame`` with every JSON value equal to ``old`` replaced by ``new``."""

    def swap(value: Any) -> Any:
        if value == old:
            return new
        if isinstance(value, dict):
            return {key: swap(item) for key, item in value.items()}
        if isinstance(value, list):
            return [swap(item) for item in value]
        return value

    return json.dumps(swap(json.loads(frame)))


def _junk(kit: CarrierKit) -> list[str | bytes]:
    """Frames a broken or hostile peer might send mid-call, in the kit's dialect where it matters."""
    audio = bytes(range(160))
    media = kit.media_frame(audio)
    payload = base64.b64encode(audio).decode()
    return [
        "not json at all {",
        "",
        "null",
        "[1, 2, 3]",
        '{"event": 42, "type": 42}',
        '{"event": "nonsense", "type": "nonsense"}',
        "{}",
        _swapped(media, payload, "%%% not base64 %%%"),
        _swapped(media, payload, 12345),
        _swapped(media, payload, None),
        _swapped(media, payload, {"nested": payload}),
        _swapped(kit.mark_frame("u9"), "u9", 9),
        _swapped(kit.dtmf_frame("5"), "5", ["5"]),
        b"\x00\xff\xfe binary where text is expected",
        media.encode(),  # a good frame, but in a binary message
    ]


def test_malformed_frames_mid_call_are_dropped_and_the_call_goes_on(
    kit: CarrierKit, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    from telephony.media import _session as stream

    # A fresh minute's budget of lines, whatever earlier tests sent.
    monkeypatch.setattr(stream, "_BAD_FRAMES", RateLimitedLog(stream._log, what="malformed media frames"))
    caller_audio = bytes(range(1, 256, 2)) + bytes(32)
    stt = ListeningSTT()
    with (
        _stream_app(kit, stt, gatherTimeoutSeconds=1) as (client, runtime),
        caplog.at_level("WARNING", logger="telephony.stream"),
    ):
        path, parameters = _open_stream(kit, client, runtime)
        with client.websocket_connect(path) as ws:
            ws.send_text(kit.start_frame(parameters))
            mark = _until_mark(kit, ws)[-1]
            assert isinstance(mark, SendMark)
            junk = _junk(kit)
            for frame in junk:
                if isinstance(frame, bytes):
                    ws.send_bytes(frame)
                else:
                    ws.send_text(frame)
            # The call goes on: audio after the junk is heard, and the greeting's mark is honored.
            ws.send_text(kit.media_frame(caller_audio))
            ws.send_text(kit.mark_frame(mark.name))
            reprompt = _until_mark(kit, ws)
            assert any(isinstance(item, SendAudio) for item in reprompt)
            call = _the_call(client)
        assert call["no_input_count"] == 1 and call["state"] not in TERMINAL_STATES
    assert bytes(stt.heard) == ulaw_to_pcm16(caller_audio), "no junk reached the recognizer"
    dropped = [r for r in caplog.records if "malformed media frame dropped" in r.getMessage()]
    assert 1 <= len(dropped) <= 10 < len(junk), "logged, at a bounded rate"


# ---------------------------------------------------------------- 3. hang-up


def test_hang_up_is_idempotent(kit: CarrierKit) -> None:
    with kit_app(kit, kit.config()) as (client, _):
        kit.heard(kit.call_started().post(client))
        call_id = _the_call(client)["call_id"]
        first = client.post(f"/api/calls/{call_id}/end")
        assert first.status_code == 200, first.text
        assert kit.hangups() == 1
        second = client.post(f"/api/calls/{call_id}/end")
        assert second.status_code == 200, second.text
        assert kit.hangups() == 1, "ending an ended call does not hang up again"
    assert first.json()["state"] == second.json()["state"] == "hangup-bot"


def test_a_carrier_answering_already_ended_is_a_successful_hang_up(kit: CarrierKit) -> None:
    with kit_app(kit, kit.config()) as (client, _):
        kit.heard(kit.call_started().post(client))
        call_id = _the_call(client)["call_id"]
        kit.end_at_carrier()
        ended = client.post(f"/api/calls/{call_id}/end")
        assert ended.status_code == 200, ended.text
        assert kit.hangups() == 1
    assert ended.json()["state"] == "hangup-bot"


def test_ending_a_stream_call_hangs_up_once_and_closes_the_stream(kit: CarrierKit) -> None:
    with _stream_app(kit) as (client, runtime):
        path, parameters = _open_stream(kit, client, runtime)
        call_id = _the_call(client)["call_id"]
        with client.websocket_connect(path) as ws:
            ws.send_text(kit.start_frame(parameters))
            _until_mark(kit, ws)
            ended = client.post(f"/api/calls/{call_id}/end")
            assert ended.status_code == 200, ended.text
            assert _refused(ws) == 1000, "the stream closes with the call"
        again = client.post(f"/api/calls/{call_id}/end")
        assert again.status_code == 200, again.text
        assert kit.hangups() == 1, "the stream's teardown and the second end hang up no more"
    assert ended.json()["state"] == again.json()["state"] == "hangup-bot"


def test_an_end_callback_before_the_call_started_ends_the_call_it_names(kit: CarrierKit) -> None:
    """The carrier's end callback overtook the call's first webhook: the late webhook starts nothing."""
    with kit_app(kit, kit.config(maxConcurrentCalls=1)) as (client, _):
        for _ in range(2):  # the callback and a copy of it (or a retry): one ended call either way
            ended = kit.call_ended().post(client)
            assert ended.status_code == 200, ended.text
        late = kit.call_started().post(client)
        refusal = kit.refusal(late)
        calls = _calls(client)
        active = client.get("/api/calls", params={"active": "true"}).json()
    assert refusal == "reject", "the late first webhook refuses the call in the carrier's terms"
    assert [(call["provider_call_id"], call["state"]) for call in calls] == [
        (kit.provider_call_id, "completed")
    ]
    assert calls[0]["transcript"] == [], "nobody was greeted"
    assert active == [], "the ended call holds no maxConcurrentCalls slot"


# ---------------------------------------------------------------- 4. DTMF


def test_a_pressed_key_is_a_user_turn(kit: CarrierKit) -> None:
    _require(kit, "dtmf")
    with kit_app(kit, kit.config()) as (client, _):
        kit.heard(kit.call_started().post(client))
        reply = kit.heard(kit.pressed("5").post(client))
        call = _the_call(client)
    assert _user_lines(call) == ["[keypad: 5]"]
    last = call["transcript"][-1]
    assert reply and (last["speaker"], last["text"]) == ("bot", reply[-1]), "the agent answers the key"


def test_a_key_pressed_on_the_stream_is_a_user_turn(kit: CarrierKit) -> None:
    _require(kit, "dtmf")
    with _stream_app(kit) as (client, runtime):
        path, parameters = _open_stream(kit, client, runtime)
        with client.websocket_connect(path) as ws:
            ws.send_text(kit.start_frame(parameters))
            greeting = _until_mark(kit, ws)
            ws.send_text(kit.mark_frame(greeting[-1].name))  # type: ignore[union-attr]
            ws.send_text(kit.dtmf_frame("5"))
            reply = _until_mark(kit, ws)
            assert any(isinstance(item, SendAudio) for item in reply), "the agent answers on the stream"
            call = _the_call(client)
    assert _user_lines(call) == ["[keypad: 5]"]
    assert [turn["speaker"] for turn in call["transcript"]] == ["bot", "user", "bot"]


# ---------------------------------------------------------------- 5. restart


@pytest.mark.parametrize("answer", ["speech", "keys"])
def test_a_restart_mid_call_loses_nothing(kit: CarrierKit, answer: str, tmp_path: Path) -> None:
    config = kit.config(store=str(tmp_path))
    with kit_app(kit, config, persistent=True) as (client, _):
        assert GREETING in kit.heard(kit.call_started().post(client))
    # A new process on the same store takes the caller's answer to the first process's gather.
    words = "What time is it?" if answer == "speech" else "[keypad: 5]"
    hook = kit.said(words) if answer == "speech" else kit.pressed("5")
    with kit_app(kit, config, persistent=True) as (client, _):
        (reply,) = kit.heard(hook.post(client))
        call = _the_call(client)
    if answer == "speech":
        assert reply.startswith("It's")
    assert [(turn["speaker"], turn["text"]) for turn in call["transcript"]] == [
        ("bot", GREETING),
        ("user", words),
        ("bot", reply),
    ]


# ---------------------------------------------------------------- 6. copies of a webhook


class _ThinkingAgent:
    """Takes long enough over its answer for every copy of the webhook to arrive meanwhile."""

    def __init__(self) -> None:
        self.asked: list[str] = []

    async def reply(self, request: AgentRequest) -> AgentReply:
        self.asked.append(request.transcript[-1].text)
        await anyio.sleep(0.5)
        return AgentReply(text="Let me think. Noon.")


def test_copies_of_a_turn_run_it_once_and_all_get_its_answer(kit: CarrierKit) -> None:
    agent = _ThinkingAgent()
    with kit_app(kit, kit.config(), agent=agent) as (client, _):
        kit.heard(kit.call_started().post(client))
        hook = kit.said("What time is it?")
        with ThreadPoolExecutor(max_workers=8) as pool:
            copies = list(pool.map(lambda _: hook.post(client), range(8)))
        late = hook.post(client)
        heard = kit.heard(late)
        call = _the_call(client)
    assert agent.asked == ["What time is it?"], "the agent runs once for the turn"
    assert {(copy.status_code, copy.content) for copy in copies} == {(200, late.content)}
    assert heard.count("Let me think. Noon.") == 1, "the reply is given once, to every copy alike"
    assert _user_lines(call) == ["What time is it?"]


# ---------------------------------------------------------------- 7. a stream that never starts


def _eventually(check: Any, what: str) -> Any:
    """``check()``'s first answer that is not None, looked for over a generous while."""
    for _ in range(500):
        answer = check()
        if answer is not None:
            return answer
        time.sleep(0.02)
    raise AssertionError(what)


def test_a_stream_that_never_starts_goes_on_in_markup_mode(
    kit: CarrierKit, caplog: pytest.LogCaptureFixture
) -> None:
    # A tunnel that passes webhooks but not the stream path: the far end never opens the stream.
    caplog.set_level(logging.WARNING, "telephony")
    with _stream_app(kit, streaming={"startTimeoutMs": 100}) as (client, runtime):
        path, parameters = _open_stream(kit, client, runtime)
        # The same call is moved to markup mode, through the carrier's own way of changing a
        # live call's course (a REST redirect to our document, or commands), and greets.
        assert _eventually(lambda: kit.moved(client), "the call was never moved") == [GREETING]
        assert _the_call(client)["media"] == "markup"
        # The caller's next turn gets the agent's reply, in markup mode.
        (reply,) = kit.heard(kit.said("What time is it?").post(client))
        assert reply.startswith("It's")
        # A stream that turns up after all is refused: the call has gone on without it.
        with client.websocket_connect(path) as late:
            late.send_text(kit.start_frame(parameters))
            assert _refused(late) == 1008
        call = _the_call(client)
    assert call["state"] not in TERMINAL_STATES and call["media"] == "markup"
    assert [turn["speaker"] for turn in call["transcript"]] == ["bot", "user", "bot"]
    assert kit.hangups() == 0
    (why,) = [record for record in caplog.records if "did not start within" in record.getMessage()]
    assert why.levelno == logging.WARNING and "0.1 s" in why.getMessage()
