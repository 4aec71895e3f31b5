"""Outbound path: synthesized 24 kHz PCM in 100 ms chunks out to Twilio ``media`` JSON frames.

Ours is what ``telephony.stream`` plays with: a per-utterance OutboundEncoder (streaming
resample, mu-law, exact 160-byte frames) and the msgspec-backed ``TwilioMediaCodec.encode``.
The baseline resamples each chunk statelessly and builds every message with ``json.dumps``.
Figures are per 20 ms frame sent.
"""

from __future__ import annotations

import base64
import json

from telephony.adapters.twilio import TwilioMediaCodec
from telephony.audio import DEFAULT_QUALITY, OutboundEncoder
from telephony.providers import MULAW_8K, SendAudio

from ._baseline import audioop, resample_stateless
from ._harness import Result, compare
from ._signals import STREAM_SID, speech_like

TTS_RATE = 24000
CHUNK_MS = 100
SECONDS = 10.0
FRAME_BYTES = MULAW_8K.frame_bytes(20)


def run() -> list[Result]:
    """Resample + encode + frame + JSON, per 20 ms frame."""
    pcm = speech_like(TTS_RATE, SECONDS).tobytes()
    size = TTS_RATE * CHUNK_MS // 1000 * 2
    chunks = [pcm[i : i + size] for i in range(0, len(pcm), size)]
    ops = int(SECONDS * 1000) // 20  # frames sent per repeat (ours is off by at most one: filter delay)

    codec = TwilioMediaCodec()
    encode = codec.encode
    # One encoder for the run, as for one long utterance; its remainder and filter state carry over.
    encoder = OutboundEncoder(TTS_RATE, MULAW_8K)
    feed = encoder.feed

    def ours() -> None:
        for chunk in chunks:
            for frame in feed(chunk):
                encode(SendAudio(payload=frame), STREAM_SID)

    def baseline() -> None:
        pending = b""
        for chunk in chunks:
            pending += audioop.lin2ulaw(resample_stateless(chunk, TTS_RATE, 8000, DEFAULT_QUALITY), 2)
            whole = len(pending) - len(pending) % FRAME_BYTES
            for start in range(0, whole, FRAME_BYTES):
                payload = base64.b64encode(pending[start : start + FRAME_BYTES]).decode()
                json.dumps({"event": "media", "streamSid": STREAM_SID, "media": {"payload": payload}})
            pending = pending[whole:]

    # Both must put the same message on the wire.
    ours_message = json.loads(encode(SendAudio(payload=b"\xff" * FRAME_BYTES), STREAM_SID))
    baseline_message = {
        "event": "media",
        "streamSid": STREAM_SID,
        "media": {"payload": base64.b64encode(b"\xff" * FRAME_BYTES).decode()},
    }
    assert ours_message == baseline_message, ours_message
    frame = bytes(FRAME_BYTES)

    def ours_json() -> None:
        for _ in range(ops):
            encode(SendAudio(payload=frame), STREAM_SID)

    def baseline_json() -> None:
        for _ in range(ops):
            payload = base64.b64encode(frame).decode()
            json.dumps({"event": "media", "streamSid": STREAM_SID, "media": {"payload": payload}})

    return [
        compare("outbound: pcm 24k -> mu-law frame + JSON", ours, baseline, ops=ops),
        compare("outbound: JSON message only", ours_json, baseline_json, ops=ops),
    ]
