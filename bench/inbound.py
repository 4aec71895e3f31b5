"""Inbound frame path: one Twilio ``media`` JSON frame in, PCM16 for the recognizer out.

This runs 50 times a second per call, so it is the budget that limits calls per core. Ours is
what ``telephony.media.StreamSession`` does (msgspec-typed decode, then a per-call streaming
InboundDecoder); the baseline is pipecat's ``TwilioFrameSerializer.deserialize``, which does
the same job (JSON, base64, mu-law to PCM16, streaming soxr resample, an audio frame out). Both
sides run on one event loop, one coroutine per repeat, since pipecat's API is async.

Rows:

- as shipped: each side at its default soxr quality (ours ``LQ``, pipecat ``VHQ``);
- same quality: ours switched to ``VHQ`` too, so the ratio shows the code, not the filter;
- no resampling: the pipeline runs at 8 kHz, which leaves framing, base64 and G.711 decoding.
"""

from __future__ import annotations

import asyncio

from telephony.adapters.twilio import TwilioMediaCodec
from telephony.media import DEFAULT_QUALITY, InboundDecoder
from telephony.providers import MULAW_8K, AudioReceived

from ._harness import Result, Timing, compare, on_loop
from ._pipecat import InputAudioRawFrame, twilio_serializer
from ._signals import twilio_media_frames

STT_RATE = 16000
SECONDS = 10.0  # 500 frames per timed repeat


def _check_same_audio(ours: bytes, theirs: bytes, rate: int) -> None:
    """Both sides must hand the recognizer the same amount of audio (filter delay aside)."""
    delay_allowance = rate // 10 * 2  # 100 ms of PCM16: soxr VHQ holds back a few frames at start
    if abs(len(ours) - len(theirs)) > delay_allowance:
        raise AssertionError(f"inbound outputs differ: ours {len(ours)} bytes, pipecat {len(theirs)}")


def _case(loop: asyncio.AbstractEventLoop, name: str, rate: int, quality: str) -> Timing:
    frames = twilio_media_frames(SECONDS)
    codec = TwilioMediaCodec()
    decode = codec.decode
    # One InboundDecoder and one serializer for the whole run, as for one long call.
    to_pcm = InboundDecoder(MULAW_8K, rate, quality=quality).to_pcm
    serializer = twilio_serializer(loop, rate)
    deserialize = serializer.deserialize

    async def ours() -> None:
        for frame in frames:
            event = decode(frame)
            if isinstance(event, AudioReceived):
                to_pcm(event.payload)

    async def pipecat() -> None:
        for frame in frames:
            await deserialize(frame)

    async def outputs() -> tuple[bytes, bytes]:
        mine = bytearray()
        theirs = bytearray()
        for frame in frames:
            event = decode(frame)
            assert isinstance(event, AudioReceived)
            mine += to_pcm(event.payload)
            audio = await deserialize(frame)
            if audio is not None:
                assert isinstance(audio, InputAudioRawFrame) and audio.sample_rate == rate
                theirs += audio.audio
        return bytes(mine), bytes(theirs)

    _check_same_audio(*loop.run_until_complete(outputs()), rate=rate)
    return compare(name, on_loop(loop, ours), on_loop(loop, pipecat), ops=len(frames))


def run() -> list[Result]:
    """Twilio media frame to PCM16 for the recognizer, per 20 ms frame."""
    loop = asyncio.new_event_loop()
    try:
        return [
            _case(
                loop,
                f"inbound: frame -> pcm 16k, as shipped (ours {DEFAULT_QUALITY})",
                STT_RATE,
                DEFAULT_QUALITY,
            ),
            _case(loop, "inbound: frame -> pcm 16k, both soxr VHQ", STT_RATE, "VHQ"),
            _case(loop, "inbound: frame -> pcm 8k, no resampling", MULAW_8K.sample_rate, DEFAULT_QUALITY),
        ]
    finally:
        loop.close()
