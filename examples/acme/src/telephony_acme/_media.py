"""Acme's media stream dialect: JSON text frames tagged on ``event``, audio in base64."""

from __future__ import annotations

from typing import Any, Final, assert_never

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
)


class _Format(msgspec.Struct):
    encoding: str = "PCMU"
    sample_rate: int = 8000


class _Formats(msgspec.Struct):
    inbound: _Format = msgspec.field(default_factory=_Format)
    outbound: _Format | None = None


class _Start(msgspec.Struct, tag_field="event", tag="start"):
    stream_id: str
    call_id: str
    media_format: _Formats = msgspec.field(default_factory=_Formats)
    custom_parameters: dict[str, str] = msgspec.field(default_factory=dict)


class _Media(msgspec.Struct, tag_field="event", tag="media"):
    payload: str
    timestamp: int | None = None


class _Dtmf(msgspec.Struct, tag_field="event", tag="dtmf"):
    digit: str


class _Mark(msgspec.Struct, tag_field="event", tag="mark"):
    name: str


class _Stop(msgspec.Struct, tag_field="event", tag="stop"):
    pass


class _Connected(msgspec.Struct, tag_field="event", tag="connected"):
    pass


_FRAME: Final = msgspec.json.Decoder(_Start | _Media | _Dtmf | _Mark | _Stop | _Connected)
_JSON: Final = msgspec.json.Encoder()


class AcmeMediaCodec:
    """Acme's media dialect: JSON text frames tagged on ``event``, audio in base64.

    The dialect is stateless (frames need only the stream id), so each stream's session is
    a :class:`DialectSession` over this object.
    """

    def session(self, started: StreamStarted) -> DialectSession:
        """The session of the stream ``started`` opened."""
        return DialectSession(self, started)

    def decode(self, frame: str | bytes) -> MediaEvent:
        """One frame as a media event; raise :class:`MediaRejected` for a malformed one."""
        try:
            message = _FRAME.decode(frame)
        except msgspec.DecodeError as exc:
            raise MediaRejected(f"malformed Acme media frame: {exc}") from None
        match message:
            case _Start():
                formats = message.media_format
                outbound = formats.outbound
                return StreamStarted(
                    provider_call_id=message.call_id,
                    stream_id=message.stream_id,
                    audio_format=audio_format(formats.inbound.encoding, formats.inbound.sample_rate),
                    outbound_format=(
                        audio_format(outbound.encoding, outbound.sample_rate) if outbound else None
                    ),
                    parameters=message.custom_parameters,  # token and callId arrive here
                )
            case _Media():
                return AudioReceived(
                    payload=decode_audio_payload(message.payload), timestamp_ms=message.timestamp
                )
            case _Dtmf():
                return DigitReceived(digit=message.digit)
            case _Mark():
                return MarkReached(name=message.name)
            case _Stop():
                return StreamStopped()
            case _:  # connected: a handshake before the start frame
                return Ignored(event="connected")

    def encode(self, message: OutboundMedia, stream_id: str) -> str:
        """One outbound message as a text frame for the stream ``stream_id``."""
        frame: dict[str, Any]
        match message:
            case SendAudio(payload=payload):
                frame = {"event": "media", "stream_id": stream_id, "payload": encode_audio_payload(payload)}
            case SendMark(name=name):
                frame = {"event": "mark", "stream_id": stream_id, "name": name}
            case ClearAudio():
                frame = {"event": "clear", "stream_id": stream_id}
            case _:
                assert_never(message)
        return _JSON.encode(frame).decode()
