"""G.711 vectors, resampler continuity and exact outbound framing."""

from __future__ import annotations

import numpy as np
import pytest

from telephony.media import (
    InboundDecoder,
    OutboundEncoder,
    StreamResampler,
    alaw_to_pcm16,
    pcm16_to_alaw,
    pcm16_to_ulaw,
    silence,
    ulaw_to_pcm16,
)
from telephony.providers import MULAW_8K, AudioFormat


def pcm(*samples: int) -> bytes:
    return np.array(samples, dtype=np.int16).tobytes()


def samples(data: bytes) -> np.ndarray:
    return np.frombuffer(data, dtype=np.int16).astype(np.int64)


def tone(rate: int, seconds: float, freq: float = 440.0, amplitude: int = 10_000) -> bytes:
    t = np.arange(int(rate * seconds)) / rate
    return (np.sin(2 * np.pi * freq * t) * amplitude).astype(np.int16).tobytes()


def dominant_frequency(data: bytes, rate: int) -> float:
    x = samples(data).astype(np.float64)
    spectrum = np.abs(np.fft.rfft(x * np.hanning(len(x))))
    return float(np.fft.rfftfreq(len(x), 1 / rate)[int(np.argmax(spectrum))])


def chunked(resampler: StreamResampler, data: bytes, size: int) -> bytes:
    out = b"".join(resampler.process(data[i : i + size]) for i in range(0, len(data), size))
    return out + resampler.flush()


def test_ulaw_decode_vectors() -> None:
    assert samples(ulaw_to_pcm16(bytes([0x00, 0x80, 0xFF]))).tolist() == [-32124, 32124, 0]


def test_ulaw_encode_vectors() -> None:
    assert pcm16_to_ulaw(pcm(0, 1000, -1000)) == bytes([0xFF, 0xCE, 0x4E])


def test_alaw_silence_and_round_trip_error_is_small() -> None:
    assert pcm16_to_alaw(pcm(0)) == b"\xd5"
    values = np.array([-20000, -1000, -10, 0, 10, 1000, 20000])
    decoded = samples(alaw_to_pcm16(pcm16_to_alaw(pcm(*values))))
    # A-law keeps about 4 significant bits: error stays within 1/16 of the magnitude (plus a step).
    assert np.all(np.abs(decoded - values) <= np.abs(values) / 16 + 16)


def test_ulaw_round_trip_keeps_a_tone() -> None:
    original = samples(tone(8000, 0.1))
    decoded = samples(ulaw_to_pcm16(pcm16_to_ulaw(tone(8000, 0.1))))
    assert np.max(np.abs(decoded - original)) <= 10_000 // 16


def test_silence_bytes_per_encoding() -> None:
    assert silence(MULAW_8K, 20) == b"\xff" * 160
    assert silence(AudioFormat("alaw", 8000), 10) == b"\xd5" * 80
    assert silence(AudioFormat("pcm16", 16000), 20) == b"\x00" * 640


@pytest.mark.parametrize(
    ("in_rate", "out_rate"), [(8000, 16000), (22050, 8000), (16000, 8000), (24000, 16000)]
)
def test_chunked_resampling_matches_whole(in_rate: int, out_rate: int) -> None:
    audio = tone(in_rate, 1.0)
    whole_resampler = StreamResampler(in_rate, out_rate)
    whole = whole_resampler.process(audio) + whole_resampler.flush()
    pieces = chunked(StreamResampler(in_rate, out_rate), audio, in_rate // 50 * 2)
    assert len(whole) == len(pieces) == out_rate * 2
    # Only dither may differ: the filter state really crosses chunk boundaries.
    assert np.max(np.abs(samples(whole) - samples(pieces))) <= 4
    assert dominant_frequency(pieces, out_rate) == pytest.approx(440, abs=2)


def test_resampler_carries_odd_bytes() -> None:
    audio = tone(8000, 0.2)
    for in_rate, out_rate in [(8000, 8000), (8000, 16000)]:
        split = StreamResampler(in_rate, out_rate)
        odd = split.process(audio[:321]) + split.process(audio[321:]) + split.flush()
        whole = StreamResampler(in_rate, out_rate)
        reference = whole.process(audio) + whole.flush()
        assert len(odd) == len(reference)
        assert np.max(np.abs(samples(odd) - samples(reference))) <= 4


def test_identity_resampler_passes_bytes_through() -> None:
    resampler = StreamResampler(16000, 16000)
    audio = tone(16000, 0.02)
    assert resampler.process(audio) == audio
    assert resampler.flush() == b""


def test_resampler_is_reusable_after_flush() -> None:
    resampler = StreamResampler(8000, 16000)
    first = resampler.process(tone(8000, 0.5)) + resampler.flush()
    second = resampler.process(tone(8000, 0.5)) + resampler.flush()
    assert len(first) == len(second) == 16000
    assert np.max(np.abs(samples(first) - samples(second))) <= 4


def test_inbound_decoder_mulaw_8k_to_pcm_16k() -> None:
    transcoder = InboundDecoder(MULAW_8K, 16000)
    frames = pcm16_to_ulaw(tone(8000, 1.0))
    out = b"".join(transcoder.to_pcm(frames[i : i + 160]) for i in range(0, len(frames), 160))
    out += transcoder.flush_to_pcm()
    assert len(out) == 16000 * 2
    assert dominant_frequency(out, 16000) == pytest.approx(440, abs=2)


def test_outbound_encoder_pcm_16k_to_mulaw_8k() -> None:
    encoder = OutboundEncoder(16000, MULAW_8K)
    out = b"".join(encoder.feed(tone(16000, 1.0)) + encoder.flush())
    assert len(out) == 8000
    assert dominant_frequency(ulaw_to_pcm16(out), 8000) == pytest.approx(440, abs=2)


def test_outbound_encoder_emits_exact_mulaw_frames() -> None:
    encoder = OutboundEncoder(22050, MULAW_8K)
    audio = tone(22050, 1.0)
    frames: list[bytes] = []
    for i in range(0, len(audio), 4410):  # 100 ms synthesizer chunks
        frames += encoder.feed(audio[i : i + 4410])
    frames += encoder.flush()
    assert encoder.frame_bytes == 160
    assert {len(f) for f in frames} == {160}
    assert len(frames) == 50  # 8000 samples of output, exactly 50 frames
    decoded = ulaw_to_pcm16(b"".join(frames))
    assert dominant_frequency(decoded, 8000) == pytest.approx(440, abs=2)


def test_outbound_encoder_keeps_remainder_and_pads_with_silence() -> None:
    encoder = OutboundEncoder(8000, MULAW_8K)
    assert encoder.feed(pcm(1000) * 100) == []
    assert encoder.feed(pcm(1000) * 100) == [b"\xce" * 160]
    (last,) = encoder.flush()
    assert last == b"\xce" * 40 + b"\xff" * 120
    assert encoder.flush() == []


def test_outbound_encoder_pcm16_frames_and_reset() -> None:
    encoder = OutboundEncoder(16000, AudioFormat("pcm16", 16000))
    assert [len(f) for f in encoder.feed(b"\x01\x00" * 700)] == [640, 640]
    encoder.reset()
    assert encoder.flush() == []
