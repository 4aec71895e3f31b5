"""Media frame timestamps, as Twilio, Telnyx and Plivo document them, feed the frame-lag metric."""

from __future__ import annotations

import json

import pytest

from telephony.adapters.plivo._media import PlivoMediaCodec
from telephony.adapters.telnyx._media import TelnyxMediaCodec
from telephony.providers import AudioReceived, media_timestamp_ms

PAYLOAD = "no+JhoaJjpzS"


@pytest.mark.parametrize(
    ("value", "expected"),
    [("5", 5), (5, 5), ("1705312200000", 1705312200000), (12.9, 12), (None, None), ("²", None),
     ("-1", None), (-1, None), (float("nan"), None), (True, None), ("9" * 40, None), ("", None)],
)  # fmt: skip
def test_a_timestamp_is_a_plain_non_negative_number_or_nothing(value: object, expected: int | None) -> None:
    assert media_timestamp_ms(value) == expected  # type: ignore[arg-type]


def test_telnyx_media_frames_carry_their_timestamp() -> None:
    # Telnyx's documented media frame: milliseconds since the stream began, as text.
    frame = {"event": "media", "sequence_number": "4", "stream_id": "s1",
             "media": {"track": "inbound", "chunk": "2", "timestamp": "5", "payload": PAYLOAD}}  # fmt: skip
    event = TelnyxMediaCodec().decode(json.dumps(frame))
    assert isinstance(event, AudioReceived) and event.timestamp_ms == 5


def test_plivo_media_frames_carry_their_timestamp() -> None:
    # Plivo's documented media frame: epoch milliseconds, as text (the lag is relative anyway).
    media = {"track": "inbound", "timestamp": "1705312200000", "chunk": 41, "payload": PAYLOAD}
    frame = {"event": "media", "sequenceNumber": 42, "streamId": "s1", "media": media}
    event = PlivoMediaCodec().decode(json.dumps(frame))
    assert isinstance(event, AudioReceived) and event.timestamp_ms == 1705312200000
