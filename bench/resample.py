"""Resampling: one streaming soxr filter per call versus a fresh stateless filter per 20 ms chunk.

The stateless version pays filter setup on every chunk and, having no history, rings at every
chunk edge: a click 50 times a second. The quality figure measures that directly as the largest
sample difference between the chunked output and the same signal resampled in one piece.
"""

from __future__ import annotations

import numpy as np
import soxr

from telephony.audio import DEFAULT_QUALITY, StreamResampler

from ._baseline import resample_stateless
from ._harness import Metric, Result, compare
from ._signals import speech_like

SECONDS = 10.0
CHUNK_MS = 20


def _chunks(pcm: bytes, rate: int) -> list[bytes]:
    size = rate * CHUNK_MS // 1000 * 2
    return [pcm[i : i + size] for i in range(0, len(pcm), size)]


def _max_error(chunked: bytes, whole: np.ndarray) -> int:
    """Largest absolute difference in LSB between chunked output and the one-piece reference."""
    got = np.frombuffer(chunked, dtype=np.int16).astype(np.int32)
    length = min(got.size, whole.size)
    return int(np.max(np.abs(got[:length] - whole[:length].astype(np.int32))))


def _case(in_rate: int, out_rate: int) -> list[Result]:
    label = f"{in_rate // 1000}k -> {out_rate // 1000}k"
    signal = speech_like(in_rate, SECONDS)
    chunks = _chunks(signal.tobytes(), in_rate)
    ops = len(chunks)

    streaming = StreamResampler(in_rate, out_rate)
    process = streaming.process

    def ours() -> None:
        for chunk in chunks:
            process(chunk)

    def baseline() -> None:
        for chunk in chunks:
            resample_stateless(chunk, in_rate, out_rate, DEFAULT_QUALITY)

    timing = compare(f"resample {label}, per 20 ms chunk", ours, baseline, ops=ops)

    # Quality on a fresh stream, so the filter delay lines up with the one-piece reference.
    whole = soxr.resample(signal, in_rate, out_rate, quality=DEFAULT_QUALITY)
    fresh = StreamResampler(in_rate, out_rate)
    ours_out = b"".join(fresh.process(c) for c in chunks) + fresh.flush()
    baseline_out = b"".join(resample_stateless(c, in_rate, out_rate, DEFAULT_QUALITY) for c in chunks)
    metric = Metric(
        f"resample {label}: max |chunked - whole|",
        ours=_max_error(ours_out, whole),
        baseline=_max_error(baseline_out, whole),
        unit="LSB of 32767",
    )
    return [timing, metric]


def run() -> list[Result]:
    """TTS 24 kHz down to the carrier's 8 kHz (the outbound direction), and 8k -> 16k inbound."""
    return [*_case(24000, 8000), *_case(8000, 16000)]
