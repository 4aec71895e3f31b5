"""Telnyx media streaming: JSON text frames tagged on ``event``, RTP payloads in base64.

In: ``connected``, ``start``, ``media``, ``dtmf``, ``mark``, ``stop``, ``error``. Out (bidirectional
RTP mode): ``media``, ``mark``, ``clear``. The caller's audio is in the codec the start frame
names (``media_format.encoding``: PCMU on most calls, PCMA on many European ones); we always
ask Telnyx to play back PCMU (``stream_bidirectional_codec``), so each stream's session reads
one format and writes the other. Where Telnyx's frame shapes are not confirmed (numbers as
strings or numbers, ``custom_parameters`` as an object or a name/value list), both are accepted.
"""

from __future__ import annotations

from typing import Any, Final, assert_never

import msgspec

from telephony.providers import (
    MULAW_8K,
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

_Number = int | float | str


class _Format(msgspec.Struct, kw_only=True):
    encoding: str = "PCMU"
    sample_rate: _Number = 8000
    channels: _Number = 1


class _Parameter(msgspec.Struct, kw_only=True):
    name: str
    value: str


class _StartBody(msgspec.Struct, kw_only=True):
    call_control_id: str
    client_state: str | None = None
    media_format: _Format = msgspec.field(default_factory=_Format)
    custom_parameters: dict[str, str] | list[_Parameter] | None = None


class _Start(msgspec.Struct, kw_only=True, tag_field="event", tag="start"):
    start: _StartBody
    stream_id: str | None = None


class _MediaBody(msgspec.Struct, kw_only=True):
    payload: str
    track: str | None = None
    timestamp: _Number | None = None


class _Media(msgspec.Struct, kw_only=True, tag_field="event", tag="media"):
    media: _MediaBody


class _DtmfBody(msgspec.Struct, kw_only=True):
    digit: str


class _Dtmf(msgspec.Struct, kw_only=True, tag_field="event", tag="dtmf"):
    dtmf: _DtmfBody


class _MarkBody(msgspec.Struct, kw_only=True):
    name: str


class _Mark(msgspec.Struct, kw_only=True, tag_field="event", tag="mark"):
    mark: _MarkBody


class _Stop(msgspec.Struct, kw_only=True, tag_field="event", tag="stop"):
    pass


class _Connected(msgspec.Struct, kw_only=True, tag_field="event", tag="connected"):
    pass


class _Error(msgspec.Struct, kw_only=True, tag_field="event", tag="error"):
    pass


_FRAME: Final = msgspec.json.Decoder(_Start | _Media | _Dtmf | _Mark | _Stop | _Connected | _Error)
_JSON: Final = msgspec.json.Encoder()
_CLEAR: Final = _JSON.encode({"event": "clear"}).decode()


def _rate(value: _Number) -> int:
    try:
        return int(float(value))
    except (ValueError, OverflowError):
        raise MediaRejected(f"malformed Telnyx sample rate {value!r}") from None


def _parameters(value: dict[str, str] | list[_Parameter] | None) -> dict[str, str]:
    if isinstance(value, list):
        return {item.name: item.value for item in value}
    return dict(value or {})


class TelnyxMediaCodec:
    """Telnyx's media dialect; stateless, so each stream's session is a :class:`DialectSession`."""

    def session(self, started: StreamStarted) -> DialectSession:
        """The session for one stream, in the formats its start frame named."""
        return DialectSession(self, started)

    def decode(self, frame: str | bytes) -> MediaEvent:
        """One frame in; raises :class:`MediaRejected` on a malformed one or an unknown codec."""
        try:
            message = _FRAME.decode(frame)
        except msgspec.DecodeError as exc:
            raise MediaRejected(f"malformed Telnyx media frame: {exc}") from None
        match message:
            case _Media(media=media):
                if media.track == "outbound":
                    return Ignored(event="media")  # our own audio, with stream_track=both_tracks
                payload = decode_audio_payload(media.payload)
                return AudioReceived(payload=payload, timestamp_ms=media_timestamp_ms(media.timestamp))
            case _Start(start=start):
                fmt = start.media_format
                return StreamStarted(
                    provider_call_id=start.call_control_id,
                    stream_id=message.stream_id or start.call_control_id,
                    audio_format=audio_format(fmt.encoding, _rate(fmt.sample_rate)),
                    outbound_format=MULAW_8K,  # what streaming_start asked Telnyx to play
                    parameters=_parameters(start.custom_parameters),
                )
            case _Dtmf(dtmf=dtmf):
                return DigitReceived(digit=dtmf.digit)
            case _Mark(mark=mark):
                return MarkReached(name=mark.name)
            case _Stop():
                return StreamStopped()
            case _Connected():
                return Ignored(event="connected")
        return Ignored(event="error")  # Telnyx reports it; the stream's stop or the call's end follows

    def encode(self, message: OutboundMedia, stream_id: str) -> str:
        """One frame out; Telnyx needs no stream id on outbound frames."""
        frame: dict[str, Any]
        match message:
            case SendAudio(payload=payload):
                frame = {"event": "media", "media": {"payload": encode_audio_payload(payload)}}
            case SendMark(name=name):
                frame = {"event": "mark", "mark": {"name": name}}
            case ClearAudio():
                return _CLEAR
            case _:
                assert_never(message)
        return _JSON.encode(frame).decode()
