"""Resampling alone: our per-call StreamResampler against pipecat's resamplers, per 20 ms chunk.

pipecat's serializers resample with ``SOXRStreamAudioResampler`` (one soxr stream per call and
direction, ``VHQ`` by default), the same design as ours, so the speed rows compare that class
at its default and at our quality. pipecat also ships the stateless ``SOXRAudioResampler`` (a
fresh filter per call); the quality table measures what chunking does to each: the largest
sample difference between the chunked output and the same signal resampled in one piece. A
filter without history rings at every chunk edge, which is a click 50 times a second.
"""

from __future__ import annotations

import asyncio

import numpy as np
import numpy.typing as npt
import soxr

from telephony.media import DEFAULT_QUALITY, StreamResampler

from ._harness import Metric, Result, compare, on_loop
from ._pipecat import SOXRAudioResampler, SOXRStreamAudioResampler
from ._signals import speech_like

SECONDS = 10.0
CHUNK_MS = 20


def _chunks(pcm: bytes, rate: int) -> list[bytes]:
    size = rate * CHUNK_MS // 1000 * 2
    return [pcm[i : i + size] for i in range(0, len(pcm), size)]


def _max_error(chunked: bytes, whole: npt.NDArray[np.int16]) -> int:
    """Largest absolute difference in LSB between chunked output and the one-piece reference."""
    got = np.frombuffer(chunked, dtype=np.int16).astype(np.int32)
    length = min(got.size, whole.size)
    return int(np.max(np.abs(got[:length] - whole[:length].astype(np.int32))))


def _case(loop: asyncio.AbstractEventLoop, in_rate: int, out_rate: int) -> list[Result]:
    label = f"{in_rate // 1000}k -> {out_rate // 1000}k"
    signal = speech_like(in_rate, SECONDS)
    chunks = _chunks(signal.tobytes(), in_rate)
    ops = len(chunks)

    def timed(name: str, quality: str) -> Result:
        process = StreamResampler(in_rate, out_rate, quality=quality).process
        resample = SOXRStreamAudioResampler().resample  # pipecat's default: VHQ

        async def ours() -> None:
            for chunk in chunks:
                process(chunk)

        async def pipecat() -> None:
            for chunk in chunks:
                await resample(chunk, in_rate, out_rate)

        return compare(name, on_loop(loop, ours), on_loop(loop, pipecat), ops=ops)

    async def chunked(resampler: SOXRStreamAudioResampler | SOXRAudioResampler) -> bytes:
        return b"".join([await resampler.resample(c, in_rate, out_rate) for c in chunks])

    # Quality on fresh streams, so each filter's delay lines up with its one-piece reference.
    fresh = StreamResampler(in_rate, out_rate)
    ours_out = b"".join(fresh.process(c) for c in chunks) + fresh.flush()
    ours_error = _max_error(ours_out, soxr.resample(signal, in_rate, out_rate, quality=DEFAULT_QUALITY))
    whole_vhq = soxr.resample(signal, in_rate, out_rate, quality="VHQ")
    stream_error = _max_error(loop.run_until_complete(chunked(SOXRStreamAudioResampler())), whole_vhq)
    stateless_error = _max_error(loop.run_until_complete(chunked(SOXRAudioResampler())), whole_vhq)
    return [
        timed(f"resample {label}: as shipped (ours {DEFAULT_QUALITY}, pipecat VHQ)", DEFAULT_QUALITY),
        timed(f"resample {label}: both soxr VHQ", "VHQ"),
        Metric(
            f"resample {label}: max |chunked - whole|, vs pipecat stream",
            ours=ours_error,
            baseline=stream_error,
            unit="LSB of 32767",
        ),
        Metric(
            f"resample {label}: max |chunked - whole|, vs pipecat stateless",
            ours=ours_error,
            baseline=stateless_error,
            unit="LSB of 32767",
        ),
    ]


def run() -> list[Result]:
    """TTS 24 kHz down to the carrier's 8 kHz (outbound), and 8 kHz up to 16 kHz (inbound)."""
    loop = asyncio.new_event_loop()
    try:
        return [*_case(loop, 24000, 8000), *_case(loop, 8000, 16000)]
    finally:
        loop.close()
