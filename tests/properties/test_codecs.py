"""Every carrier's media codec, fed mutated documented frames and plain junk, text or binary.

The property: ``decode`` (the codec's, before a stream is known, and a stream session's) returns
a well-typed media event or raises :class:`MediaRejected`, which the stream session drops or
answers by closing the socket. A start frame it accepts names formats the audio path can
serve, and audio it accepts can be transcoded. Any other exception would end the call's stream.
"""

from __future__ import annotations

import json
import typing

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from telephony.media import InboundDecoder, OutboundEncoder
from telephony.providers import (
    AudioFormat,
    AudioReceived,
    ClearAudio,
    MediaCodec,
    MediaEvent,
    MediaRejected,
    MediaSession,
    SendAudio,
    SendMark,
    StreamStarted,
)

from .carriers import CARRIERS, assert_well_typed, build
from .samples import MEDIA, SAMPLE_AUDIO
from .strategies import json_body

EVENT_TYPES = typing.get_args(MediaEvent)
AUDIO_FORMATS = [AudioFormat("mulaw", 8000), AudioFormat("alaw", 8000), AudioFormat("pcm16", 16000)]
CODECS = [name for name in CARRIERS if name != "local-command"]  # one local dialect for both modes


def _codec(name: str) -> MediaCodec:
    return build(name).codec


def _media(name: str) -> list[dict[str, typing.Any]]:
    return MEDIA[build(name).media]


def check_started(codec: MediaCodec, started: StreamStarted) -> MediaSession:
    """A stream the codec accepted can be served: a session, its frames out, its audio path."""
    session = codec.session(started)
    for message in (SendAudio(payload=b"\xff" * 160), SendMark(name="u1"), ClearAudio()):
        json.loads(session.encode(message))
    InboundDecoder(started.audio_format, 16000)
    OutboundEncoder(22050, started.playback_format)
    return session


def decode_or_refuse(codec: MediaCodec | MediaSession, frame: str | bytes) -> MediaEvent | None:
    """What ``codec`` makes of ``frame``, checked against the contract."""
    try:
        event = codec.decode(frame)
    except MediaRejected as exc:
        assert str(exc)
        return None
    assert isinstance(event, EVENT_TYPES), event
    assert_well_typed(event)
    if isinstance(event, AudioReceived):
        for audio in AUDIO_FORMATS:
            InboundDecoder(audio, 16000).to_pcm(event.payload)
    return event


@st.composite
def frames(draw: st.DrawFn, name: str) -> str | bytes:
    """One of the carrier's documented frames, mutated; sent as a text or a binary frame."""
    data = draw(json_body(draw(st.sampled_from(_media(name)))))
    if draw(st.booleans()):
        try:
            return data.decode()
        except UnicodeDecodeError:
            pass
    return data


@pytest.mark.parametrize("name", CODECS)
@given(data=st.data())
def test_a_mutated_frame_decodes_or_is_refused(name: str, data: st.DataObject) -> None:
    codec = _codec(name)
    event = decode_or_refuse(codec, data.draw(frames(name)))
    if isinstance(event, StreamStarted):
        check_started(codec, event)


@pytest.mark.parametrize("name", CODECS)
@given(frame=st.one_of(st.text(max_size=300), st.binary(max_size=300)))
@example(frame='{"event": "media", "media": {"payload": "AAAA", "timestamp": "²"}}')
@example(frame='{"event": "media", "media": {"payload": "AAAA", "timestamp": "' + "9" * 5000 + '"}}')
def test_arbitrary_frames_decode_or_are_refused(name: str, frame: str | bytes) -> None:
    codec = _codec(name)
    event = decode_or_refuse(codec, frame)
    if isinstance(event, StreamStarted):
        check_started(codec, event)


@pytest.mark.parametrize("name", CODECS)
@given(data=st.data())
def test_a_stream_session_decodes_mutated_frames_or_refuses_them(name: str, data: st.DataObject) -> None:
    codec = _codec(name)
    start = next(
        frame for frame in _media(name) if frame.get("event", frame.get("type")) in ("start", "hello")
    )
    started = codec.decode(json.dumps(start))
    assert isinstance(started, StreamStarted)
    session = check_started(codec, started)
    for _ in range(data.draw(st.integers(1, 3))):
        decode_or_refuse(session, data.draw(frames(name)))


@pytest.mark.parametrize("name", CODECS)
def test_an_audio_payload_that_is_not_ascii_is_refused(name: str) -> None:
    (media,) = [
        frame for frame in _media(name) if frame.get("event", frame.get("type")) in ("media", "audio")
    ]
    text = json.dumps(media)
    for payload in ("é", "²AAA"):
        frame = text.replace(SAMPLE_AUDIO, payload)
        assert frame != text
        with pytest.raises(MediaRejected, match="base64"):
            _codec(name).decode(frame)


def test_a_superscript_sample_rate_is_refused() -> None:
    start = dict(MEDIA["plivo"][0])
    start["start"] = start["start"] | {"mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": "²"}}
    with pytest.raises(MediaRejected, match="sample rate"):
        _codec("plivo").decode(json.dumps(start))


def test_a_twilio_timestamp_that_is_not_plain_digits_is_dropped() -> None:
    for stamp in ("²", "9" * 5000, "-5", " 5"):
        frame = {"event": "media", "media": {"payload": "AAAA", "timestamp": stamp}}
        event = _codec("twilio").decode(json.dumps(frame))
        assert event == AudioReceived(payload=b"\x00\x00\x00", timestamp_ms=None)
