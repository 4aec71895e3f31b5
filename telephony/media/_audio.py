"""G.711 and resampling for the media hot path.

Carriers speak 8 kHz G.711; recognizers want 16 kHz PCM and synthesizers produce their own
rate. Everything here is streaming: each object keeps its state between 20 ms chunks so a
call's audio is converted without clicks at chunk boundaries. PCM means signed 16-bit mono in
the host byte order, which is little-endian on every platform we ship for.
"""

from __future__ import annotations

import warnings

import numpy as np
import soxr

from telephony.providers import AudioFormat, Encoding

with warnings.catch_warnings():
    # audioop is deprecated in 3.11-3.12 and provided by audioop-lts from 3.13; the C code is
    # the fastest G.711 we have, so we keep it and keep the warning out of users' logs.
    warnings.simplefilter("ignore", DeprecationWarning)
    import audioop

__all__ = [
    "DEFAULT_QUALITY",
    "InboundDecoder",
    "OutboundEncoder",
    "StreamResampler",
    "alaw_to_pcm16",
    "decode_to_pcm16",
    "encode_from_pcm16",
    "pcm16_to_alaw",
    "pcm16_to_ulaw",
    "silence",
    "ulaw_to_pcm16",
]

# soxr's "LQ" is still a 16-bit-precision filter (more than 8-bit G.711 can carry) but buffers
# about half as much audio as "HQ" (~60 ms bursts instead of ~100 ms), which is latency we hear.
DEFAULT_QUALITY = "LQ"


def ulaw_to_pcm16(data: bytes) -> bytes:
    """Decode G.711 mu-law (one byte per sample) to PCM16."""
    return audioop.ulaw2lin(data, 2)


def pcm16_to_ulaw(pcm: bytes) -> bytes:
    """Encode PCM16 (an even number of bytes) to G.711 mu-law."""
    return audioop.lin2ulaw(pcm, 2)


def alaw_to_pcm16(data: bytes) -> bytes:
    """Decode G.711 A-law (one byte per sample) to PCM16."""
    return audioop.alaw2lin(data, 2)


def pcm16_to_alaw(pcm: bytes) -> bytes:
    """Encode PCM16 (an even number of bytes) to G.711 A-law."""
    return audioop.lin2alaw(pcm, 2)


def decode_to_pcm16(data: bytes, encoding: Encoding) -> bytes:
    """Decode carrier audio in ``encoding`` to PCM16 at the same rate."""
    if encoding == "mulaw":
        return ulaw_to_pcm16(data)
    if encoding == "alaw":
        return alaw_to_pcm16(data)
    return data


def encode_from_pcm16(pcm: bytes, encoding: Encoding) -> bytes:
    """Encode PCM16 to carrier audio in ``encoding`` at the same rate."""
    if encoding == "mulaw":
        return pcm16_to_ulaw(pcm)
    if encoding == "alaw":
        return pcm16_to_alaw(pcm)
    return pcm


def silence(audio_format: AudioFormat, milliseconds: int) -> bytes:
    """Digital silence in ``audio_format`` (0xFF for mu-law, 0xD5 for A-law, zeros for PCM)."""
    zero_sample = encode_from_pcm16(b"\x00\x00", audio_format.encoding)
    return zero_sample * (audio_format.sample_rate * milliseconds // 1000)


class StreamResampler:
    """Resamples one continuous PCM16 stream, chunk by chunk.

    Use one per call and direction: the filter state carried between chunks is what keeps
    chunk boundaries inaudible. The output lags the input by the filter delay and arrives in
    bursts; :meth:`flush` drains the tail at the end of a stream or utterance.

    Args:
        in_rate: Sample rate of the PCM fed to :meth:`process`.
        out_rate: Sample rate of the PCM returned.
        quality: A soxr quality name (``QQ``, ``LQ``, ``MQ``, ``HQ``, ``VHQ``).
    """

    def __init__(self, in_rate: int, out_rate: int, *, quality: str = DEFAULT_QUALITY) -> None:
        if in_rate <= 0 or out_rate <= 0:
            raise ValueError(f"sample rates must be positive, got {in_rate} -> {out_rate}")
        self.in_rate = in_rate
        self.out_rate = out_rate
        self._stream: soxr.ResampleStream | None = None
        if in_rate != out_rate:
            self._stream = soxr.ResampleStream(in_rate, out_rate, 1, dtype="int16", quality=quality)
        # A carrier may split a sample across two frames; we hold the odd byte for the next chunk.
        self._carry = b""

    def process(self, pcm: bytes) -> bytes:
        """Resample one chunk; may return fewer (even zero) bytes while the filter fills."""
        if self._carry:
            pcm = self._carry + pcm
            self._carry = b""
        if len(pcm) % 2:
            pcm, self._carry = pcm[:-1], pcm[-1:]
        if self._stream is None or not pcm:
            return pcm
        samples = np.frombuffer(pcm, dtype=np.int16)
        return bytes(self._stream.resample_chunk(samples).tobytes())

    def flush(self) -> bytes:
        """Return the audio still inside the filter and get ready for a fresh stream."""
        self._carry = b""
        if self._stream is None:
            return b""
        tail = bytes(self._stream.resample_chunk(np.zeros(0, dtype=np.int16), last=True).tobytes())
        self._stream.clear()
        return tail

    def reset(self) -> None:
        """Drop buffered audio without returning it (barge-in)."""
        self._carry = b""
        if self._stream is not None:
            self._stream.clear()


class InboundDecoder:
    """Turns a carrier's audio (:class:`AudioFormat`) into PCM16 at an engine's rate, as it arrives.

    Inbound only: the way back is :class:`OutboundEncoder`, which also cuts exact frames. The
    resampler is kept across frames, so a stream is filtered as one signal, never chunk by chunk.

    Args:
        audio_format: The carrier side, for example mu-law 8 kHz.
        pcm_rate: The engine side, for example 16000 for a recognizer.
        quality: The soxr quality.
    """

    def __init__(self, audio_format: AudioFormat, pcm_rate: int, *, quality: str = DEFAULT_QUALITY) -> None:
        self.audio_format = audio_format
        self.pcm_rate = pcm_rate
        self._resampler = StreamResampler(audio_format.sample_rate, pcm_rate, quality=quality)

    def to_pcm(self, frame: bytes) -> bytes:
        """Carrier audio in, PCM16 at ``pcm_rate`` out."""
        return self._resampler.process(decode_to_pcm16(frame, self.audio_format.encoding))

    def flush_to_pcm(self) -> bytes:
        """The tail still inside the resampler."""
        return self._resampler.flush()


class OutboundEncoder:
    """Turns synthesized PCM into exact carrier frames (160 bytes per 20 ms of mu-law 8 kHz).

    Carriers pace playback by frame, so we send whole frames only and keep the remainder for
    the next :meth:`feed`; :meth:`flush` pads the last partial frame with silence.

    Args:
        source_rate: Sample rate of the PCM16 fed in (the synthesizer's native rate).
        target: The carrier's audio format.
        frame_ms: Frame duration.
        quality: The soxr quality.
    """

    def __init__(
        self, source_rate: int, target: AudioFormat, *, frame_ms: int = 20, quality: str = DEFAULT_QUALITY
    ) -> None:
        self.target = target
        self.frame_bytes = target.frame_bytes(frame_ms)
        if self.frame_bytes <= 0:
            raise ValueError(f"a {frame_ms} ms frame of {target} holds no samples")
        self._resampler = StreamResampler(source_rate, target.sample_rate, quality=quality)
        self._pending = bytearray()
        self._silence_sample = encode_from_pcm16(b"\x00\x00", target.encoding)

    def feed(self, pcm: bytes) -> list[bytes]:
        """Add PCM16 and return every complete frame now available (possibly none)."""
        self._pending += encode_from_pcm16(self._resampler.process(pcm), self.target.encoding)
        return self._take_frames()

    def flush(self) -> list[bytes]:
        """Drain the resampler and return the remaining frames, the last padded with silence."""
        self._pending += encode_from_pcm16(self._resampler.flush(), self.target.encoding)
        frames = self._take_frames()
        if self._pending:
            padding = (self.frame_bytes - len(self._pending)) // len(self._silence_sample)
            frames.append(bytes(self._pending) + self._silence_sample * padding)
            self._pending.clear()
        return frames

    def reset(self) -> None:
        """Forget buffered audio (barge-in) so the next utterance starts clean."""
        self._resampler.reset()
        self._pending.clear()

    def _take_frames(self) -> list[bytes]:
        size = self.frame_bytes
        count = len(self._pending) // size
        frames = [bytes(self._pending[i * size : (i + 1) * size]) for i in range(count)]
        del self._pending[: count * size]
        return frames
