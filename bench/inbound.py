"""Inbound frame path: one Twilio ``media`` JSON frame in, PCM16 for the recognizer out.

This runs 50 times a second per call, so it is the budget that limits calls per core. Ours is
what ``telephony.stream`` does (msgspec-typed decode, then a per-call streaming Transcoder);
the baseline is stdlib ``json`` + ``base64`` + ``audioop`` + stateless per-chunk ``soxr.resample``.
"""

from __future__ import annotations

import base64
import json

from telephony.adapters.twilio import TwilioMediaCodec
from telephony.audio import DEFAULT_QUALITY, Transcoder
from telephony.providers import MULAW_8K, AudioReceived

from ._baseline import audioop, resample_stateless
from ._harness import Result, compare
from ._signals import twilio_media_frames

STT_RATE = 16000
SECONDS = 10.0  # 500 frames per timed repeat


def run() -> list[Result]:
    """Full decode + transcode, decode only (mu-law pass-through), and transcode only."""
    frames = twilio_media_frames(SECONDS)
    ops = len(frames)
    codec = TwilioMediaCodec()
    decode = codec.decode

    # Same payload both ways, or the comparison is meaningless.
    first = decode(frames[0])
    assert isinstance(first, AudioReceived)
    assert first.payload == base64.b64decode(json.loads(frames[0])["media"]["payload"])
    ulaw_chunks = [base64.b64decode(json.loads(f)["media"]["payload"]) for f in frames]

    # One Transcoder for the whole run, like one per call: its filter state carries across repeats.
    transcoder = Transcoder(MULAW_8K, STT_RATE)
    to_pcm = transcoder.to_pcm

    def ours_full() -> None:
        for frame in frames:
            event = decode(frame)
            if isinstance(event, AudioReceived):
                to_pcm(event.payload)

    def baseline_full(quality: str = DEFAULT_QUALITY) -> None:
        for frame in frames:
            message = json.loads(frame)
            if message["event"] == "media":
                ulaw = base64.b64decode(message["media"]["payload"])
                resample_stateless(audioop.ulaw2lin(ulaw, 2), 8000, STT_RATE, quality)

    def baseline_pipecat() -> None:
        baseline_full("VHQ")

    def ours_decode() -> None:
        for frame in frames:
            decode(frame)

    def baseline_decode() -> None:
        for frame in frames:
            message = json.loads(frame)
            if message["event"] == "media":
                base64.b64decode(message["media"]["payload"])

    def ours_transcode() -> None:
        for chunk in ulaw_chunks:
            to_pcm(chunk)

    def baseline_transcode() -> None:
        for chunk in ulaw_chunks:
            resample_stateless(audioop.ulaw2lin(chunk, 2), 8000, STT_RATE, DEFAULT_QUALITY)

    return [
        compare("inbound: decode + mu-law 8k -> pcm 16k", ours_full, baseline_full, ops=ops),
        compare("inbound: same, baseline at VHQ (pipecat-like)", ours_full, baseline_pipecat, ops=ops),
        compare("inbound: mu-law pass-through (decode only)", ours_decode, baseline_decode, ops=ops),
        compare("inbound: transcode only (no JSON)", ours_transcode, baseline_transcode, ops=ops),
    ]
