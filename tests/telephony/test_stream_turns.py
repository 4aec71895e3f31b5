"""Stream-mode conversations over real WebSockets: turns, barge-in, notify, keypad.

Recognition uses the shared VAD segmenter with a scripted transcriber, so these tests are about
the engine's behaviour, not a recognizer's accuracy (the demo covers real recognition).
"""

from __future__ import annotations

import base64
import json
import math
import struct
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest
import respx
from litestar.exceptions import WebSocketDisconnect
from test_stream_seed import CONNECTED, STREAM_SID, _connect_stream, _start, _until
from twilio_helpers import ACCOUNT_SID, CALL_SID, WEBHOOK_URL, post_signed, twilio_app, twilio_config, twiml

from telephony.media import pcm16_to_ulaw
from telephony.providers import SegmentingTranscriptionStream

FRAME = 160


class ScriptedSTT:
    """Real VAD segmentation; each utterance is "transcribed" as the next scripted line."""

    sample_rate = 16000

    def __init__(self, lines: list[str]) -> None:
        self.lines = list(lines)

    async def _transcribe(self, pcm: bytes, rate: int) -> tuple[str, float | None]:
        return (self.lines.pop(0) if self.lines else "", 0.9)

    async def open_stream(self, *, language: str = "en-US") -> SegmentingTranscriptionStream:
        return SegmentingTranscriptionStream(self._transcribe, self.sample_rate)


def _tone(ms: int) -> bytes:
    samples = 8 * ms
    pcm = b"".join(
        struct.pack("<h", int(8000 * math.sin(2 * math.pi * 440 * i / 8000))) for i in range(samples)
    )
    return pcm16_to_ulaw(pcm)


def _media(audio: bytes) -> Iterator[str]:
    for i in range(0, len(audio), FRAME):
        payload = base64.b64encode(audio[i : i + FRAME]).decode()
        yield json.dumps({"event": "media", "streamSid": STREAM_SID, "media": {"payload": payload}})


def _speak(ws: Any, speech_ms: int = 600, silence_ms: int = 900) -> None:
    for frame in _media(_tone(speech_ms) + b"\xff" * (8 * silence_ms)):
        ws.send_text(frame)


def _ack(ws: Any, mark: dict[str, Any]) -> None:
    ws.send_text(json.dumps({"event": "mark", "streamSid": STREAM_SID, "mark": mark["mark"]}))


def _transcript(client: Any) -> list[tuple[str, str]]:
    return [(t["speaker"], t["text"]) for t in client.get("/api/calls").json()[0]["transcript"]]


def test_caller_speech_is_answered_with_audio_through_on_user_turn(twilio_api: respx.MockRouter) -> None:
    with twilio_app(twilio_config(streaming=True), stt=ScriptedSTT(["what time is it"])) as client:
        url, params = _connect_stream(client)
        with client.websocket_connect(urlsplit(url).path) as ws:
            ws.send_text(CONNECTED)
            ws.send_text(_start(params))
            _ack(ws, _until(ws, "mark")[-1])
            _speak(ws)
            reply = _until(ws, "mark")
            _ack(ws, reply[-1])
            ws.send_text(json.dumps({"event": "stop", "streamSid": STREAM_SID}))
        transcript = _transcript(client)
    assert sum(f["event"] == "media" for f in reply) > 10
    assert transcript[1] == ("user", "what time is it")
    assert transcript[2][0] == "bot" and transcript[2][1]


def test_barge_in_clears_playback_and_trims_the_transcript(twilio_api: respx.MockRouter) -> None:
    config = twilio_config(streaming=True, inboundGreeting=" ".join(["This greeting goes on and on."] * 6))
    with twilio_app(config, stt=ScriptedSTT(["stop please"])) as client:
        url, params = _connect_stream(client)
        with client.websocket_connect(urlsplit(url).path) as ws:
            ws.send_text(_start(params))
            for _ in range(20):  # some greeting audio is out before the caller talks over it
                assert json.loads(ws.receive_text())["event"] == "media"
            _speak(ws, silence_ms=100)
            frames = _until(ws, "clear")
            ws.send_text(json.dumps({"event": "stop", "streamSid": STREAM_SID}))
        transcript = _transcript(client)
    assert frames[-1] == {"event": "clear", "streamSid": STREAM_SID}
    greeting = transcript[0][1]
    assert greeting.endswith("…") and len(greeting) < len(config.inbound_greeting or "")


def test_keypad_digit_is_a_turn(twilio_api: respx.MockRouter) -> None:
    with twilio_app(twilio_config(streaming=True), stt=ScriptedSTT([])) as client:
        url, params = _connect_stream(client)
        with client.websocket_connect(urlsplit(url).path) as ws:
            ws.send_text(_start(params))
            _ack(ws, _until(ws, "mark")[-1])
            ws.send_text(
                json.dumps(
                    {
                        "event": "dtmf",
                        "streamSid": STREAM_SID,
                        "sequenceNumber": "5",
                        "dtmf": {"track": "inbound_track", "digit": "5"},
                    }
                )
            )
            _ack(ws, _until(ws, "mark")[-1])
            ws.send_text(json.dumps({"event": "stop", "streamSid": STREAM_SID}))
        transcript = _transcript(client)
    assert ("user", "[keypad: 5]") in transcript


def test_notify_over_stream_hangs_up_only_after_playback_is_confirmed(twilio_api: Any) -> None:
    with twilio_app(twilio_config(streaming=True), stt=ScriptedSTT([])) as client:
        call_id = client.post(
            "/api/calls",
            json={
                "to": "+14155550100",
                "message": "Your table is ready.",
                "mode": "notify",
                "media": "stream",
            },
        ).json()["call_id"]
        answer = {
            "CallSid": CALL_SID,
            "AccountSid": ACCOUNT_SID,
            "CallStatus": "in-progress",
            "Direction": "outbound-api",
            "From": "+18005551212",
            "To": "+14155550100",
        }
        stream = twiml(post_signed(client, f"{WEBHOOK_URL}?callId={call_id}&kind=answer", answer).text)
        node = stream.find("Connect/Stream")
        assert node is not None
        params = {p.attrib["name"]: p.attrib["value"] for p in node.findall("Parameter")}
        with client.websocket_connect(urlsplit(node.attrib["url"]).path) as ws:
            ws.send_text(_start(params))
            mark = _until(ws, "mark")[-1]
            hangups_before_ack = [c for c in twilio_api.calls if b"Status=completed" in c.request.content]
            _ack(ws, mark)
            with pytest.raises(WebSocketDisconnect):  # the server closes the socket after hanging up
                while True:
                    ws.receive_text()
        record = client.get(f"/api/calls/{call_id}").json()
        hangups = [c for c in twilio_api.calls if b"Status=completed" in c.request.content]
    assert hangups_before_ack == []
    assert len(hangups) == 1 and record["state"] == "hangup-bot"


def test_silent_caller_is_reprompted_then_told_goodbye(twilio_api: respx.MockRouter) -> None:
    config = twilio_config(streaming=True, gatherTimeoutSeconds=1, noInputRetries=1)
    with twilio_app(config, stt=ScriptedSTT([])) as client:
        url, params = _connect_stream(client)
        with client.websocket_connect(urlsplit(url).path) as ws:
            ws.send_text(_start(params))
            _ack(ws, _until(ws, "mark")[-1])  # greeting heard; now the caller says nothing
            _ack(ws, _until(ws, "mark")[-1])  # the re-prompt
            _ack(ws, _until(ws, "mark")[-1])  # the goodbye, after which we hang up
            with pytest.raises(WebSocketDisconnect):
                while True:
                    ws.receive_text()
        record = client.get("/api/calls").json()[0]
    assert record["state"] == "hangup-bot"
    assert record["transcript"][-1]["text"] == "I haven't heard anything, so I'll hang up now. Goodbye!"
    assert any(b"Status=completed" in call.request.content for call in twilio_api.calls)
