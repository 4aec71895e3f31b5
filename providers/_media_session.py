"""A media session for dialects whose frames only need the stream id: most carriers' are."""

from __future__ import annotations

from typing import Protocol

from ._media import MediaEvent, OutboundMedia, StreamStarted


class Dialect(Protocol):
    """A stateless media dialect: frame in, event out; message and stream id in, frame out."""

    def decode(self, frame: str | bytes) -> MediaEvent: ...

    def encode(self, message: OutboundMedia, stream_id: str) -> str: ...


class DialectSession:
    """Binds a stateless dialect to one stream, so adapters need not write a session class.

    Args:
        dialect: The carrier's frame decoder and encoder.
        started: The stream's start, with the audio format of each direction.
    """

    __slots__ = ("_dialect", "_stream_id", "started")

    def __init__(self, dialect: Dialect, started: StreamStarted) -> None:
        self._dialect = dialect
        self._stream_id = started.stream_id
        self.started = started

    def decode(self, frame: str | bytes) -> MediaEvent:
        """Decode one frame of this stream."""
        return self._dialect.decode(frame)

    def encode(self, message: OutboundMedia) -> str:
        """Encode one message for this stream."""
        return self._dialect.encode(message, self._stream_id)
