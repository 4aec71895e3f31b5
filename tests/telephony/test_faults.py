"""Injected faults in the agent and the speech engines: the caller hears a line, and the call goes on.

The real plugins are replaced by small implementations of their protocols that fail, stall or
die on cue; everything else is the real app: far ends on a real socket for every carrier in
markup and command mode, and a real media WebSocket in stream mode.
"""

from __future__ import annotations

import json
import logging
import math
import struct
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import urlsplit

import anyio
import pytest
import respx
from test_conversations import CALLER, CARRIERS, OUR_NUMBER, _carrier_serving, _ended, _lines
from test_stream_seed import STREAM_SID, _connect_stream, _start
from test_stream_turns import _speak, _transcript
from twilio_helpers import twilio_app, twilio_config

from telephony.lines import AGENT_FALLBACK, HOLDING_LINE, REPROMPT, TTS_FALLBACK
from telephony.providers import (
    Agent,
    AgentReply,
    AgentRequest,
    SegmentingTranscriptionStream,
    SynthesizedAudio,
    TranscriptEvent,
)

WAIT = 10.0  # seconds any one expected frame may take before the test fails instead of hanging


class FlakyAgent:
    """Fails, stalls or answers on cue, turn by turn; otherwise echoes, and ends on "goodbye"."""

    def __init__(self, plan: list[str]) -> None:
        self.plan = list(plan)

    async def reply(self, request: AgentRequest) -> AgentReply:
        step = self.plan.pop(0) if self.plan else "answer"
        if step == "raise":
            raise RuntimeError("model overloaded")
        if step == "hang":
            await anyio.sleep_forever()
        if step.startswith("slow"):
            await anyio.sleep(float(step.removeprefix("slow ")))
        said = request.transcript[-1].text
        if "goodbye" in said.lower():
            return AgentReply(text="Thanks for calling. Goodbye!", end_call=True)
        return AgentReply(text=f"You said: {said}")


class VoiceOnCue:
    """A TTS engine that records what it is asked to say and fails or stalls on the lines named."""

    def __init__(self, *, fail: tuple[str, ...] = (), stall: tuple[str, ...] = ()) -> None:
        self.fail, self.stall = fail, stall
        self.asked: list[str] = []

    async def synthesize(self, text: str) -> AsyncIterator[SynthesizedAudio]:
        self.asked.append(text)
        if any(cue in text for cue in self.fail):
            raise RuntimeError("synthesis engine crashed")
        if any(cue in text for cue in self.stall):
            await anyio.sleep_forever()
        samples = 1600  # 100 ms at 16 kHz
        tone = b"".join(struct.pack("<h", int(6000 * math.sin(i / 5))) for i in range(samples))
        yield SynthesizedAudio(pcm=tone, sample_rate=16000)


class RecognizerOnCue:
    """Real VAD segmentation; each utterance is the next scripted step: a line, a failure or a stall.

    ``crash`` makes the stream's events raise, as a recognizer whose connection or process dies.
    """

    sample_rate = 16000

    def __init__(self, steps: list[str]) -> None:
        self.steps = list(steps)
        self.opened = 0

    async def _transcribe(self, pcm: bytes, rate: int) -> tuple[str, float | None]:
        step = self.steps.pop(0) if self.steps else ""
        if step == "raise":
            raise RuntimeError("the pocketsphinx worker process died")
        if step == "stall":
            await anyio.sleep_forever()
        return step, 0.9

    async def open_stream(self, *, language: str = "en-US") -> SegmentingTranscriptionStream:
        self.opened += 1
        if self.steps and self.steps[0] == "crash":
            self.steps.pop(0)
            return _Crashing(self._transcribe, self.sample_rate, timeout_seconds=0.3)
        return SegmentingTranscriptionStream(self._transcribe, self.sample_rate, timeout_seconds=0.3)


class _Crashing(SegmentingTranscriptionStream):
    """A recognizer that dies while the caller's first utterance is being recognized."""

    async def events(self) -> AsyncIterator[TranscriptEvent]:
        async for event in super().events():
            if event.kind == "final":
                raise ConnectionResetError("recognizer connection lost")
            yield event


# ---------------------------------------------------------------- markup and command carriers


@pytest.mark.parametrize("carrier", CARRIERS)
async def test_agent_failure_and_timeout_give_the_fallback_line_and_the_call_goes_on(
    carrier: str, no_network: respx.MockRouter, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    async with _carrier_serving(carrier, no_network, responseTimeoutMs=300) as (runtime, far_end):
        runtime.engine.agent = FlakyAgent(["raise", "hang", "answer"])
        call = await far_end.inbound_call(
            caller=CALLER, callee=OUR_NUMBER, script=["Hello there.", "Are you there?", "Goodbye."]
        )
        record = await runtime.store.get_by_provider_id(runtime.carrier.name, call.provider_call_id)
        assert record is not None
        record = await _ended(runtime, record.call_id)
    bot = [text for speaker, text in _lines(call) if speaker == "bot"]
    assert bot == [
        "Hello! How can I help you today?",
        AGENT_FALLBACK,
        AGENT_FALLBACK,
        "Thanks for calling. Goodbye!",
    ]
    assert record.state == "hangup-bot" and record.turn_count == 3
    logged = caplog.text
    assert f"call {record.call_id}: agent failed (RuntimeError: model overloaded); using fallback" in logged
    assert f"call {record.call_id}: no agent reply in 0.3 s; using fallback" in logged


async def test_a_webhook_turn_is_answered_before_the_carrier_gives_up(no_network: respx.MockRouter) -> None:
    async with _carrier_serving("twilio", no_network) as (runtime, _):
        # Twilio waits 15 s for an answer: the agent gets what is left after our own work.
        assert runtime.engine.reply_deadline("gather") == 12.0
        assert runtime.engine.reply_deadline("stream") == 30.0  # responseTimeoutMs: a holding line covers it
    async with _carrier_serving("telnyx", no_network) as (runtime, _):
        assert runtime.engine.reply_deadline("gather") == 30.0  # commands: no webhook answer is waited for


# ---------------------------------------------------------------- stream mode


def _frames_until_mark(ws: Any) -> list[dict[str, Any]]:
    """Frames up to and including the next mark, failing (not hanging) if one is slow to come."""
    frames = []
    while True:
        frame = json.loads(ws.receive_text(timeout=WAIT))
        frames.append(frame)
        if frame["event"] == "mark":
            return frames


def _heard(ws: Any) -> int:
    """Play one line out: the media frames before its mark, then confirm the mark as heard."""
    frames = _frames_until_mark(ws)
    ws.send_text(json.dumps({"event": "mark", "streamSid": STREAM_SID, "mark": frames[-1]["mark"]}))
    return sum(frame["event"] == "media" for frame in frames)


def _stream_call(
    *, stt: RecognizerOnCue, tts: VoiceOnCue, agent: Agent | None = None, **settings: Any
) -> Any:
    config = twilio_config(streaming=True, **settings)
    return twilio_app(config, stt=stt, tts=tts, agent=agent or FlakyAgent([]))


def test_stream_agent_failure_and_timeout_are_spoken_as_the_fallback_line(
    twilio_api: respx.MockRouter, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    tts = VoiceOnCue()
    stt = RecognizerOnCue(["first try", "second try", "third try"])
    agent = FlakyAgent(["raise", "hang", "answer"])
    with _stream_call(stt=stt, tts=tts, agent=agent, responseTimeoutMs=400, holdingLineAfterMs=0) as client:
        url, params = _connect_stream(client)
        with client.websocket_connect(urlsplit(url).path) as ws:
            ws.send_text(_start(params))
            assert _heard(ws) > 0  # the greeting
            for _ in range(3):
                _speak(ws)
                assert _heard(ws) > 0
            ws.send_text(json.dumps({"event": "stop", "streamSid": STREAM_SID}))
        transcript = _transcript(client)
    assert tts.asked[-3:] == [AGENT_FALLBACK, AGENT_FALLBACK, "You said: third try"]
    assert [text for speaker, text in transcript if speaker == "bot"][1:] == tts.asked[-3:]
    assert "agent failed (RuntimeError: model overloaded)" in caplog.text
    assert "no agent reply in 0.4 s" in caplog.text


def test_a_slow_agent_is_covered_by_a_holding_line_then_heard(twilio_api: respx.MockRouter) -> None:
    tts = VoiceOnCue()
    agent = FlakyAgent(["slow 0.8", "answer"])
    stt = RecognizerOnCue(["tell me something", "and again"])
    with _stream_call(stt=stt, tts=tts, agent=agent, holdingLineAfterMs=100) as client:
        url, params = _connect_stream(client)
        with client.websocket_connect(urlsplit(url).path) as ws:
            ws.send_text(_start(params))
            _heard(ws)
            _speak(ws)
            assert _heard(ws) > 0  # the holding line, while the agent thinks
            assert _heard(ws) > 0  # then its answer
            _speak(ws)
            assert _heard(ws) > 0  # a quick answer needs no holding line
            ws.send_text(json.dumps({"event": "stop", "streamSid": STREAM_SID}))
        transcript = _transcript(client)
    assert tts.asked[-3:] == [HOLDING_LINE, "You said: tell me something", "You said: and again"]
    # The holding line is filler, not something the agent said: the transcript does not hold it.
    assert HOLDING_LINE not in [text for _, text in transcript]


@pytest.mark.parametrize("fault", ["fail", "stall"])
def test_a_line_that_cannot_be_synthesized_is_replaced_by_the_fallback_line(
    fault: str, twilio_api: respx.MockRouter, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    tts = VoiceOnCue(**{fault: ("You said: broken",)})
    stt = RecognizerOnCue(["broken", "working"])
    with _stream_call(stt=stt, tts=tts, ttsTimeoutMs=300) as client:
        url, params = _connect_stream(client)
        with client.websocket_connect(urlsplit(url).path) as ws:
            ws.send_text(_start(params))
            _heard(ws)
            _speak(ws)
            assert _heard(ws) > 0  # the fallback line's audio, in place of the line that failed
            _speak(ws)  # the caller's turn started after it: the call goes on
            assert _heard(ws) > 0
            ws.send_text(json.dumps({"event": "stop", "streamSid": STREAM_SID}))
        record = client.get("/api/calls").json()[0]
    assert tts.asked.count(TTS_FALLBACK) == 1  # rendered once, ahead of time, and replayed
    assert tts.asked[-2:] == ["You said: broken", "You said: working"]
    assert record["turn_count"] == 2
    cause = "no audio in 300 ms" if fault == "stall" else "RuntimeError: synthesis engine crashed"
    assert f"speech synthesis failed ({cause}); saying the fallback line" in caplog.text


@pytest.mark.parametrize("fault", ["raise", "stall"])
def test_lost_words_are_asked_for_again_and_the_call_goes_on(
    fault: str, twilio_api: respx.MockRouter, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    tts = VoiceOnCue()
    stt = RecognizerOnCue([fault, "second attempt"])
    with _stream_call(stt=stt, tts=tts) as client:
        url, params = _connect_stream(client)
        with client.websocket_connect(urlsplit(url).path) as ws:
            ws.send_text(_start(params))
            _heard(ws)
            _speak(ws)
            assert _heard(ws) > 0  # the re-prompt
            _speak(ws)
            assert _heard(ws) > 0  # the answer to what was heard this time
            ws.send_text(json.dumps({"event": "stop", "streamSid": STREAM_SID}))
        transcript = _transcript(client)
    assert tts.asked[-2:] == [REPROMPT, "You said: second attempt"]
    assert ("user", "second attempt") in transcript
    cause = "no result in 0.3 s" if fault == "stall" else "RuntimeError: the pocketsphinx worker process died"
    assert f"the caller's words were lost ({cause}); asking again" in caplog.text


def test_a_recognizer_that_dies_is_replaced_and_the_caller_asked_again(
    twilio_api: respx.MockRouter, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    tts = VoiceOnCue()
    stt = RecognizerOnCue(["crash", "lost with the recognizer", "after the restart"])
    with _stream_call(stt=stt, tts=tts) as client:
        url, params = _connect_stream(client)
        with client.websocket_connect(urlsplit(url).path) as ws:
            ws.send_text(_start(params))
            _heard(ws)
            _speak(ws)  # the recognizer dies before its result comes out
            assert _heard(ws) > 0  # the re-prompt
            _speak(ws)
            assert _heard(ws) > 0
            ws.send_text(json.dumps({"event": "stop", "streamSid": STREAM_SID}))
        transcript = _transcript(client)
    assert stt.opened == 2
    assert tts.asked[-2:] == [REPROMPT, "You said: after the restart"]
    assert ("user", "after the restart") in transcript
    assert (
        "speech recognizer failed (ConnectionResetError: recognizer connection lost); replacing it"
        in caplog.text
    )
