"""Outbound path: synthesized PCM16 out to Twilio ``media`` JSON messages.

Ours is what ``telephony.media.StreamSession`` plays with: a per-utterance OutboundEncoder (streaming
resample, mu-law, exact 160-byte frames) and the msgspec-backed ``TwilioMediaCodec.encode``.
The baseline is pipecat's ``TwilioFrameSerializer.serialize`` on the audio frames its output
transport hands it: 40 ms chunks by default (``audio_out_10ms_chunks=4``), each becoming one
message after a streaming soxr resample, mu-law encoding, base64 and ``json.dumps``.

The two cut the audio differently (ours 20 ms messages, pipecat 40 ms), so every figure is per
20 ms of audio delivered, whatever the message count: the job is "this much speech to Twilio".

Rows:

- TTS at 24 kHz, as shipped (ours ``LQ``, pipecat ``VHQ``); ours is fed the TTS's 100 ms
  chunks and cuts frames itself, pipecat gets the 40 ms chunks its transport would make;
- the same with ours at ``VHQ`` too;
- PCM16 already at 8 kHz (no resampling): mu-law encoding and the JSON message.
"""

from __future__ import annotations

import asyncio
import base64
import json

from telephony.adapters.twilio import TwilioMediaCodec
from telephony.media import DEFAULT_QUALITY, OutboundEncoder
from telephony.providers import MULAW_8K, SendAudio

from ._harness import Result, Timing, compare, on_loop
from ._pipecat import OUTPUT_CHUNK_MS, OutputAudioRawFrame, twilio_serializer
from ._signals import STREAM_SID, speech_like

TTS_RATE = 24000
TTS_CHUNK_MS = 100
SECONDS = 10.0
FRAME_MS = 20


def _chunks(pcm: bytes, rate: int, milliseconds: int) -> list[bytes]:
    size = rate * milliseconds // 1000 * 2
    return [pcm[i : i + size] for i in range(0, len(pcm), size)]


def _mulaw_bytes(messages: list[str]) -> int:
    """Check the message shape and count the mu-law bytes carried, so both sides send the same."""
    total = 0
    for text in messages:
        message = json.loads(text)
        if set(message) != {"event", "streamSid", "media"} or message["event"] != "media":
            raise AssertionError(f"unexpected message shape: {text[:120]}")
        if message["streamSid"] != STREAM_SID:
            raise AssertionError(f"wrong streamSid in {text[:120]}")
        total += len(base64.b64decode(message["media"]["payload"]))
    return total


def _case(loop: asyncio.AbstractEventLoop, name: str, rate: int, quality: str) -> Timing:
    pcm = speech_like(rate, SECONDS).tobytes()
    ops = int(SECONDS * 1000) // FRAME_MS  # 20 ms units of audio delivered per repeat
    codec = TwilioMediaCodec()
    encode = codec.encode
    # One encoder and one serializer for the run, as for one long utterance.
    feed = OutboundEncoder(rate, MULAW_8K, frame_ms=FRAME_MS, quality=quality).feed
    serializer = twilio_serializer(loop, rate)
    serialize = serializer.serialize
    ours_chunks = _chunks(pcm, rate, TTS_CHUNK_MS if rate != MULAW_8K.sample_rate else FRAME_MS)
    pipecat_frames = [
        OutputAudioRawFrame(audio=chunk, sample_rate=rate, num_channels=1)
        for chunk in _chunks(pcm, rate, OUTPUT_CHUNK_MS if rate != MULAW_8K.sample_rate else FRAME_MS)
    ]

    async def ours() -> None:
        for chunk in ours_chunks:
            for frame in feed(chunk):
                encode(SendAudio(payload=frame), STREAM_SID)

    async def pipecat() -> None:
        for frame in pipecat_frames:
            await serialize(frame)

    async def outputs() -> tuple[list[str], list[str]]:
        mine = [encode(SendAudio(payload=f), STREAM_SID) for chunk in ours_chunks for f in feed(chunk)]
        theirs = [m for m in [await serialize(frame) for frame in pipecat_frames] if isinstance(m, str)]
        return mine, theirs

    mine, theirs = loop.run_until_complete(outputs())
    sent_ours, sent_pipecat = _mulaw_bytes(mine), _mulaw_bytes(theirs)
    if abs(sent_ours - sent_pipecat) > MULAW_8K.frame_bytes(100):  # filter delay, at most 100 ms
        raise AssertionError(f"outbound outputs differ: ours {sent_ours} bytes, pipecat {sent_pipecat}")
    return compare(name, on_loop(loop, ours), on_loop(loop, pipecat), ops=ops)


def run() -> list[Result]:
    """PCM16 to Twilio media messages, per 20 ms of audio."""
    loop = asyncio.new_event_loop()
    try:
        return [
            _case(
                loop,
                f"outbound: tts 24k -> messages, as shipped (ours {DEFAULT_QUALITY})",
                TTS_RATE,
                DEFAULT_QUALITY,
            ),
            _case(loop, "outbound: tts 24k -> messages, both soxr VHQ", TTS_RATE, "VHQ"),
            _case(loop, "outbound: pcm 8k -> messages, no resampling", MULAW_8K.sample_rate, DEFAULT_QUALITY),
        ]
    finally:
        loop.close()
