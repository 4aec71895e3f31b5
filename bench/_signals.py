"""Deterministic speech-like test audio, so every run times the same work.

Pure tones or white noise would flatter or punish the resampler unrealistically; a voiced,
gliding, syllable-modulated signal with a little breath noise is closer to TTS and callers.
"""

from __future__ import annotations

import base64
import json

import numpy as np
import numpy.typing as npt

from telephony.media import pcm16_to_ulaw

STREAM_SID = "MZ18ad3ab5a668481ce02b83e7395059f0"
CALL_SID = "CA5e6cd0b8a6dc4a9eb6a3b4f1c2d3e4f5"
ACCOUNT_SID = "AC0123456789abcdef0123456789abcdef"


def speech_like(rate: int, seconds: float, *, seed: int = 0) -> npt.NDArray[np.int16]:
    """PCM16 at ``rate``: harmonics of a 100-180 Hz glide, 4 Hz syllable envelope, peak about -6 dBFS."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(rate * seconds)) / rate
    f0 = 140.0 + 40.0 * np.sin(2 * np.pi * 0.7 * t)
    phase = 2 * np.pi * np.cumsum(f0) / rate
    top = int((rate / 2) // 180)  # keep every harmonic below Nyquist
    voiced = np.zeros_like(t)
    for k in range(1, top):
        voiced += np.sin(k * phase) / k
    envelope = 0.2 + 0.8 * (0.5 - 0.5 * np.cos(2 * np.pi * 4.0 * t))
    signal = voiced / np.max(np.abs(voiced)) * envelope + rng.normal(0.0, 0.02, t.size)
    pcm: npt.NDArray[np.int16] = np.clip(signal * 0.5 * 32767, -32768, 32767).astype(np.int16)
    return pcm


def twilio_media_frames(seconds: float) -> list[str]:
    """Twilio Media Streams ``media`` messages, 20 ms (160 mu-law bytes) each, as Twilio sends them.

    Shape from Twilio's docs: ``sequenceNumber``, ``chunk`` and ``timestamp`` are strings.
    """
    ulaw = pcm16_to_ulaw(speech_like(8000, seconds).tobytes())
    frames = []
    for index in range(len(ulaw) // 160):
        message = {
            "event": "media",
            "sequenceNumber": str(index + 2),  # 1 is the "start" message
            "media": {
                "track": "inbound",
                "chunk": str(index + 1),
                "timestamp": str(index * 20),
                "payload": base64.b64encode(ulaw[index * 160 : (index + 1) * 160]).decode(),
            },
            "streamSid": STREAM_SID,
        }
        frames.append(json.dumps(message, separators=(",", ":")))
    return frames
