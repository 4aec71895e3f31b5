"""Plivo audio streaming codec: JSON text frames tagged on ``event``.

In: ``start``, ``media``, ``dtmf``, ``playedStream`` (the answer to a ``checkpoint``),
``clearedAudio``, ``stop``. Out: ``playAudio``, ``checkpoint``, ``clearAudio``. Where Plivo's
documents disagree on a spelling (``playedStream`` or ``played``; ``extra_headers`` or
``extraHeaders``; ``;`` or ``,`` between extra headers) both are accepted.
"""

from __future__ import annotations

from typing import Final, assert_never

import msgspec

from telephony.providers import (
    AudioFormat,
    AudioReceived,
    ClearAudio,
    DigitReceived,
    Ignored,
    MarkReached,
    MediaEvent,
    MediaRejected,
    OutboundMedia,
    SendAudio,
    SendMark,
    StreamStarted,
    StreamStopped,
    audio_format,
    decode_audio_payload,
    encode_audio_payload,
    media_timestamp_ms,
    parse_decimal,
)

_ExtraHeaders = str | dict[str, str] | None


class _Base(msgspec.Struct, tag_field="event"):
    pass


class _MediaFormat(msgspec.Struct, frozen=True):
    encoding: str = "audio/x-mulaw"
    sampleRate: int | str = 8000  # a number in the reference; a string costs nothing to accept


class _StartBody(msgspec.Struct):
    callId: str
    streamId: str
    mediaFormat: _MediaFormat = _MediaFormat()
    extra_headers: _ExtraHeaders = None
    extraHeaders: _ExtraHeaders = None


class _Start(_Base, tag="start"):
    start: _StartBody
    extra_headers: _ExtraHeaders = None
    extraHeaders: _ExtraHeaders = None


class _MediaBody(msgspec.Struct):
    payload: str
    track: str = "inbound"
    timestamp: str | int | None = None


class _Media(_Base, tag="media"):
    media: _MediaBody


class _DigitBody(msgspec.Struct):
    digit: str


class _Dtmf(_Base, tag="dtmf"):
    dtmf: _DigitBody | str | None = None
    digit: str | None = None


class _Played(_Base, tag="playedStream"):
    name: str


class _PlayedOld(_Base, tag="played"):  # the older support article's spelling
    name: str


class _Cleared(_Base, tag="clearedAudio"):
    pass


class _Stop(_Base, tag="stop"):
    pass


class _Envelope(msgspec.Struct):
    event: str = ""


_Inbound = _Start | _Media | _Dtmf | _Played | _PlayedOld | _Cleared | _Stop
_DECODER: Final = msgspec.json.Decoder(_Inbound)
_ENVELOPE: Final = msgspec.json.Decoder(_Envelope)
_KNOWN: Final = frozenset({"start", "media", "dtmf", "playedStream", "played", "clearedAudio", "stop"})
_ENCODER: Final = msgspec.json.Encoder()

#: What ``playAudio`` calls each format (no ``;rate=`` here: the rate goes in ``sampleRate``).
_CONTENT_TYPES: Final = {"mulaw": "audio/x-mulaw", "alaw": "audio/x-alaw", "pcm16": "audio/x-l16"}


class _OutMediaBody(msgspec.Struct):
    contentType: str
    sampleRate: int
    payload: str


class _OutPlay(msgspec.Struct, tag_field="event", tag="playAudio"):
    media: _OutMediaBody


class _OutCheckpoint(msgspec.Struct, tag_field="event", tag="checkpoint"):
    streamId: str
    name: str


class _OutClear(msgspec.Struct, tag_field="event", tag="clearAudio"):
    streamId: str


def extra_headers(value: _ExtraHeaders) -> dict[str, str]:
    """The ``extraHeaders`` a ``<Stream>`` set, from ``k1=v1,k2=v2`` or ``k1=v1;k2=v2``."""
    if value is None:
        return {}
    if isinstance(value, dict):
        return {str(name): str(item) for name, item in value.items()}
    pairs: dict[str, str] = {}
    for part in value.replace(";", ",").split(","):
        name, sep, item = part.partition("=")
        if sep and name.strip():
            pairs[name.strip()] = item.strip()
    return pairs


def _format(encoding: str, sample_rate: int | str) -> AudioFormat:
    # ``audio/x-l16`` is refused on purpose: its byte order on this socket is not documented,
    # and a guess that is wrong plays loud noise. The <Stream> we render asks for mu-law.
    if isinstance(sample_rate, str):
        rate = parse_decimal(sample_rate, max_digits=6)
        if rate is None:
            raise MediaRejected(f"unsupported stream sample rate {sample_rate[:12]!r}")
        sample_rate = rate
    return audio_format(encoding, sample_rate)


class PlivoMediaCodec:
    """Plivo's dialect: reads the frames before a stream is known, and makes one session per stream."""

    def session(self, started: StreamStarted) -> PlivoMediaSession:
        """The session for one stream, playing back in the format its ``start`` frame named."""
        return PlivoMediaSession(started)

    def decode(self, frame: str | bytes) -> MediaEvent:
        """Decode one frame; an event we do not know is ``Ignored``, a malformed one is refused."""
        try:
            message = _DECODER.decode(frame)
        except msgspec.DecodeError as exc:
            event = _event_name(frame)
            if event is not None and event not in _KNOWN:
                return Ignored(event=event)  # playFailed, error, ...: nothing for the engine
            raise MediaRejected(f"malformed Plivo media frame: {exc}") from None
        match message:
            case _Media(media=media):
                if media.track != "inbound":
                    return Ignored(event="media")
                payload = decode_audio_payload(media.payload)
                return AudioReceived(payload=payload, timestamp_ms=media_timestamp_ms(media.timestamp))
            case _Start(start=start):
                headers = extra_headers(message.extra_headers or message.extraHeaders)
                headers |= extra_headers(start.extra_headers or start.extraHeaders)
                return StreamStarted(
                    provider_call_id=start.callId,
                    stream_id=start.streamId,
                    audio_format=_format(start.mediaFormat.encoding, start.mediaFormat.sampleRate),
                    parameters=headers,
                )
            case _Dtmf():
                digit = message.dtmf.digit if isinstance(message.dtmf, _DigitBody) else message.dtmf
                digit = digit or message.digit
                if not digit:
                    raise MediaRejected("Plivo dtmf frame without a digit")
                return DigitReceived(digit=digit)
            case _Played(name=name) | _PlayedOld(name=name):
                return MarkReached(name=name)
            case _Stop():
                return StreamStopped()
            case _:
                return Ignored(event="clearedAudio")


class PlivoMediaSession:
    """One Plivo stream: decodes its frames, encodes ours in the format its start frame named."""

    __slots__ = ("_content_type", "_rate", "_stream_id", "started")

    def __init__(self, started: StreamStarted) -> None:
        self.started = started
        self._stream_id = started.stream_id
        playback = started.playback_format
        self._content_type = _CONTENT_TYPES[playback.encoding]
        self._rate = playback.sample_rate

    def decode(self, frame: str | bytes) -> MediaEvent:
        """Decode one frame of this stream."""
        return _CODEC.decode(frame)

    def encode(self, message: OutboundMedia) -> str:
        """``playAudio``, ``checkpoint`` or ``clearAudio`` for this stream."""
        out: _OutPlay | _OutCheckpoint | _OutClear
        match message:
            case SendAudio(payload=payload):
                body = _OutMediaBody(
                    contentType=self._content_type,
                    sampleRate=self._rate,
                    payload=encode_audio_payload(payload),
                )
                out = _OutPlay(media=body)
            case SendMark(name=name):
                out = _OutCheckpoint(streamId=self._stream_id, name=name)
            case ClearAudio():
                out = _OutClear(streamId=self._stream_id)
            case _:
                assert_never(message)
        return _ENCODER.encode(out).decode()


def _event_name(frame: str | bytes) -> str | None:
    try:
        return _ENVELOPE.decode(frame).event or None
    except msgspec.DecodeError:
        return None


_CODEC: Final = PlivoMediaCodec()
