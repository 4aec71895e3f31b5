"""The plain-Python building blocks every baseline uses: stdlib json, base64, audioop, stateless soxr.

This is how a media bridge is usually written first (and roughly what pipecat's Twilio
serializer did with its stateless ``SOXRAudioResampler``), so it is the yardstick we compare to.
"""

from __future__ import annotations

import warnings

import numpy as np
import soxr

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)  # audioop is deprecated in 3.11-3.12
    import audioop

__all__ = ["audioop", "resample_stateless"]


def resample_stateless(pcm: bytes, in_rate: int, out_rate: int, quality: str) -> bytes:
    """Resample one chunk on its own: a fresh soxr filter per call, no history across chunks."""
    samples = np.frombuffer(pcm, dtype=np.int16)
    return soxr.resample(samples, in_rate, out_rate, quality=quality).astype(np.int16).tobytes()  # type: ignore[no-any-return]
