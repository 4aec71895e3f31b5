from __future__ import annotations

import json

import pytest
from telephony.providers import (
    AudioFormat,
    AudioReceived,
    ClearAudio,
    DigitReceived,
    Ignored,
    MarkReached,
    MediaRejected,
    SendAudio,
    SendMark,
    StreamStarted,
    StreamStopped,
)

from telephony_acme import AcmeMediaCodec


def _start(**media_format: object) -> str:
    frame = {
        "event": "start",
        "stream_id": "s1",
        "call_id": "ac_1",
        "custom_parameters": {"token": "t", "callId": "c1"},
    }
    if media_format:
        frame["media_format"] = media_format
    return json.dumps(frame)


def test_media_round_trip() -> None:
    codec = AcmeMediaCodec()
    assert codec.decode('{"event": "connected"}') == Ignored(event="connected")
    start = codec.decode(
        _start(
            inbound={"encoding": "PCMA", "sample_rate": 8000},
            outbound={"encoding": "L16", "sample_rate": 16000},
        )
    )
    assert isinstance(start, StreamStarted) and start.parameters == {"token": "t", "callId": "c1"}
    assert (start.provider_call_id, start.stream_id) == ("ac_1", "s1")
    assert start.audio_format == AudioFormat("alaw", 8000)
    assert start.playback_format == AudioFormat("pcm16", 16000)
    session = codec.session(start)
    assert session.started is start
    assert session.decode('{"event": "media", "payload": "AAE=", "timestamp": 20}') == AudioReceived(
        payload=b"\x00\x01", timestamp_ms=20
    )
    assert json.loads(session.encode(SendAudio(payload=b"\x00\x01"))) == {
        "event": "media",
        "stream_id": "s1",
        "payload": "AAE=",
    }
    assert json.loads(session.encode(SendMark(name="u1"))) == {
        "event": "mark",
        "stream_id": "s1",
        "name": "u1",
    }
    assert json.loads(session.encode(ClearAudio())) == {"event": "clear", "stream_id": "s1"}
    assert session.decode('{"event": "mark", "name": "u1"}') == MarkReached(name="u1")
    assert session.decode('{"event": "dtmf", "digit": "5"}') == DigitReceived(digit="5")
    assert session.decode('{"event": "stop"}') == StreamStopped()


def test_the_format_defaults_to_mulaw_both_ways() -> None:
    start = AcmeMediaCodec().decode(_start())
    assert isinstance(start, StreamStarted)
    assert start.audio_format == start.playback_format == AudioFormat("mulaw", 8000)


@pytest.mark.parametrize(
    "frame",
    [
        "not json",
        '{"event": "wobble"}',
        '{"event": "media", "payload": "***"}',
        _start(inbound={"encoding": "OPUS", "sample_rate": 48000}),
    ],
    ids=["not-json", "unknown-event", "bad-base64", "unsupported-encoding"],
)
def test_a_malformed_frame_is_rejected(frame: str) -> None:
    with pytest.raises(MediaRejected):
        AcmeMediaCodec().decode(frame)
