"""Normalized media-stream messages, both directions.

Codecs decode carrier WebSocket frames into the inbound types and encode the outbound types
into carrier frames. Audio payloads are raw bytes in the codec's :class:`AudioFormat`.
"""

from __future__ import annotations

import base64
import binascii
from typing import Literal

import msgspec

from ._errors import MediaRejected

Encoding = Literal["mulaw", "alaw", "pcm16"]


class AudioFormat(msgspec.Struct, frozen=True):
    """An audio encoding and rate; ``pcm16`` is signed 16-bit little-endian mono."""

    encoding: Encoding = "mulaw"
    sample_rate: int = 8000

    @property
    def bytes_per_sample(self) -> int:
        return 2 if self.encoding == "pcm16" else 1

    def frame_bytes(self, milliseconds: int = 20) -> int:
        """Bytes in one frame of ``milliseconds`` of audio (160 for 20 ms of 8 kHz mu-law)."""
        return self.sample_rate * milliseconds // 1000 * self.bytes_per_sample


MULAW_8K = AudioFormat("mulaw", 8000)

_ENCODING_NAMES: dict[str, Encoding] = {
    "audio/x-mulaw": "mulaw",
    "audio/pcmu": "mulaw",
    "pcmu": "mulaw",
    "mulaw": "mulaw",
    "audio/x-alaw": "alaw",
    "audio/pcma": "alaw",
    "pcma": "alaw",
    "alaw": "alaw",
    "audio/l16": "pcm16",
    "l16": "pcm16",
    "pcm16": "pcm16",
}


def audio_format(encoding: str, sample_rate: int = 8000) -> AudioFormat:
    """The format a carrier names in a stream's start frame (``audio/x-mulaw``, ``PCMA``, ``L16``).

    Raises:
        MediaRejected: for an encoding we cannot decode; guessing would play static.
    """
    name = _ENCODING_NAMES.get(encoding.strip().lower().split(";")[0])
    if name is None:
        raise MediaRejected(f"unsupported stream audio encoding {encoding!r}")
    if not 8000 <= sample_rate <= 48000:
        raise MediaRejected(f"unsupported stream sample rate {sample_rate}")
    return AudioFormat(name, sample_rate)


class _Inbound(msgspec.Struct, frozen=True, kw_only=True, tag_field="type"):
    """Base of inbound media messages."""


class StreamStarted(_Inbound, frozen=True, kw_only=True, tag="started"):
    """The carrier opened the stream; ``parameters`` are the custom stream parameters.

    Attributes:
        audio_format: The format of the caller's audio, as the start frame announced it.
        outbound_format: The format the carrier plays back, when it differs from the inbound
            one (see :attr:`playback_format`).
    """

    provider_call_id: str
    stream_id: str
    audio_format: AudioFormat = MULAW_8K
    outbound_format: AudioFormat | None = None
    parameters: dict[str, str] = msgspec.field(default_factory=dict)

    @property
    def playback_format(self) -> AudioFormat:
        """The format of audio we send: the outbound format, else the inbound one."""
        return self.outbound_format or self.audio_format


class AudioReceived(_Inbound, frozen=True, kw_only=True, tag="audio"):
    """A chunk of caller audio."""

    payload: bytes
    timestamp_ms: int | None = None


class DigitReceived(_Inbound, frozen=True, kw_only=True, tag="dtmf"):
    """The caller pressed a key."""

    digit: str


class MarkReached(_Inbound, frozen=True, kw_only=True, tag="mark"):
    """Playback reached a mark we sent earlier (or the mark was flushed by a clear)."""

    name: str


class StreamStopped(_Inbound, frozen=True, kw_only=True, tag="stopped"):
    """The carrier closed the stream (call ended or stream stopped)."""


class Ignored(_Inbound, frozen=True, kw_only=True, tag="ignored"):
    """A valid frame that carries nothing for the engine (for example a handshake)."""

    event: str


MediaEvent = StreamStarted | AudioReceived | DigitReceived | MarkReached | StreamStopped | Ignored


class _Outbound(msgspec.Struct, frozen=True, kw_only=True, tag_field="type"):
    """Base of outbound media messages."""


class SendAudio(_Outbound, frozen=True, kw_only=True, tag="audio"):
    """Audio to play to the caller, in the codec's audio format."""

    payload: bytes


class SendMark(_Outbound, frozen=True, kw_only=True, tag="mark"):
    """Ask to be told when playback reaches this point."""

    name: str


class ClearAudio(_Outbound, frozen=True, kw_only=True, tag="clear"):
    """Drop all audio queued at the carrier (barge-in)."""


OutboundMedia = SendAudio | SendMark | ClearAudio


def decode_audio_payload(payload: str) -> bytes:
    """Decode a base64 audio payload strictly; every carrier dialect carries audio this way."""
    try:
        return base64.b64decode(payload, validate=True)
    except (binascii.Error, ValueError):  # ValueError: text that is not even ASCII
        raise MediaRejected("audio payload is not valid base64") from None


def encode_audio_payload(audio: bytes) -> str:
    return base64.b64encode(audio).decode()
