"""Twilio Media Streams codec: JSON text frames tagged on ``event``."""

from __future__ import annotations

from typing import assert_never

import msgspec

from telephony.providers import (
    AudioReceived,
    ClearAudio,
    DialectSession,
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
)


class _Base(msgspec.Struct, tag_field="event"):
    pass


class _Connected(_Base, tag="connected"):
    protocol: str = ""


class _MediaFormat(msgspec.Struct, frozen=True):
    encoding: str = "audio/x-mulaw"
    sampleRate: int = 8000
    channels: int = 1


class _StartBody(msgspec.Struct):
    streamSid: str
    callSid: str
    accountSid: str = ""
    customParameters: dict[str, str] = msgspec.field(default_factory=dict)
    mediaFormat: _MediaFormat = _MediaFormat()


class _Start(_Base, tag="start"):
    start: _StartBody
    streamSid: str = ""


class _MediaBody(msgspec.Struct):
    payload: str
    track: str = "inbound"
    timestamp: str | int | None = None


class _Media(_Base, tag="media"):
    media: _MediaBody
    streamSid: str = ""


class _Digit(msgspec.Struct):
    digit: str


class _Dtmf(_Base, tag="dtmf"):
    dtmf: _Digit


class _MarkBody(msgspec.Struct):
    name: str


class _Mark(_Base, tag="mark"):
    mark: _MarkBody


class _Stop(_Base, tag="stop"):
    streamSid: str = ""


_Inbound = _Connected | _Start | _Media | _Dtmf | _Mark | _Stop
_DECODER = msgspec.json.Decoder(_Inbound)
_ENCODER = msgspec.json.Encoder()


class _OutMedia(msgspec.Struct, tag_field="event", tag="media"):
    streamSid: str
    media: dict[str, str]


class _OutMark(msgspec.Struct, tag_field="event", tag="mark"):
    streamSid: str
    mark: _MarkBody


class _OutClear(msgspec.Struct, tag_field="event", tag="clear"):
    streamSid: str


class TwilioMediaCodec:
    """Twilio's dialect.

    Decodes ``connected``, ``start``, ``media``, ``dtmf``, ``mark`` and ``stop``; encodes ``media``,
    ``mark`` and ``clear``.
    """

    def session(self, started: StreamStarted) -> DialectSession:
        """Each stream gets its own session, with the format its ``start`` frame named."""
        return DialectSession(self, started)

    def decode(self, frame: str | bytes) -> MediaEvent:
        try:
            message = _DECODER.decode(frame)
        except msgspec.DecodeError as exc:
            raise MediaRejected(f"malformed Twilio media frame: {exc}") from None
        match message:
            case _Media(media=media):
                audio = decode_audio_payload(media.payload)
                return AudioReceived(payload=audio, timestamp_ms=media_timestamp_ms(media.timestamp))
            case _Start(start=start):
                return StreamStarted(
                    provider_call_id=start.callSid,
                    stream_id=start.streamSid,
                    audio_format=audio_format(start.mediaFormat.encoding, start.mediaFormat.sampleRate),
                    parameters=dict(start.customParameters),
                )
            case _Dtmf(dtmf=dtmf):
                return DigitReceived(digit=dtmf.digit)
            case _Mark(mark=mark):
                return MarkReached(name=mark.name)
            case _Stop():
                return StreamStopped()
            case _:
                return Ignored(event="connected")

    def encode(self, message: OutboundMedia, stream_id: str) -> str:
        out: _OutMedia | _OutMark | _OutClear
        match message:
            case SendAudio(payload=payload):
                out = _OutMedia(streamSid=stream_id, media={"payload": encode_audio_payload(payload)})
            case SendMark(name=name):
                out = _OutMark(streamSid=stream_id, mark=_MarkBody(name=name))
            case ClearAudio():
                out = _OutClear(streamSid=stream_id)
            case _:
                assert_never(message)
        return _ENCODER.encode(out).decode()
