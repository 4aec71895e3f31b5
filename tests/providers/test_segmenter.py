"""Energy VAD boundaries and the segmenting transcription stream, on synthetic tone and silence."""

from __future__ import annotations

import asyncio

import msgspec
import numpy as np
import pytest

from telephony.providers import (
    EnergyVad,
    SegmentingTranscriptionStream,
    TranscriptEvent,
    TranscriptionStream,
    VadSettings,
)

RATE = 16000
FRAME = RATE // 50 * 2  # bytes in 20 ms


def tone(ms: int, amplitude: int = 8000) -> bytes:
    t = np.arange(RATE * ms // 1000) / RATE
    return (np.sin(2 * np.pi * 300 * t) * amplitude).astype(np.int16).tobytes()


def quiet(ms: int) -> bytes:
    return b"\x00\x00" * (RATE * ms // 1000)


def ms(pcm: bytes) -> float:
    return len(pcm) / 2 / RATE * 1000


def feed_chunks(vad: EnergyVad, audio: bytes, size: int = FRAME) -> list[tuple[str, float]]:
    events: list[tuple[str, float]] = []
    for i in range(0, len(audio), size):
        events += [(e.kind, ms(e.pcm)) for e in vad.feed(audio[i : i + size])]
    return events


def test_tone_between_silences_is_one_utterance_with_pre_roll() -> None:
    vad = EnergyVad(RATE)
    events = feed_chunks(vad, quiet(1000) + tone(1000) + quiet(1000))
    assert [kind for kind, _ in events] == ["start", "end"]
    # 200 ms pre-roll + 1000 ms tone + 200 ms of the trailing quiet kept as context.
    assert events[1][1] == pytest.approx(1400, abs=20)
    assert not vad.in_speech


def test_start_needs_sustained_energy() -> None:
    vad = EnergyVad(RATE)
    assert feed_chunks(vad, quiet(200) + tone(40) + quiet(1000)) == []
    # 60 ms of tone is enough; the start fires on the frame that completes it.
    events = vad.feed(quiet(200) + tone(60))
    assert [e.kind for e in events] == ["start"]


def test_end_waits_for_silence_ms() -> None:
    vad = EnergyVad(RATE, VadSettings(silence_ms=300))
    assert [k for k, _ in feed_chunks(vad, tone(500) + quiet(280))] == ["start"]
    assert [k for k, _ in feed_chunks(vad, quiet(20))] == ["end"]


def test_short_gaps_and_soft_tails_stay_inside_the_utterance() -> None:
    vad = EnergyVad(RATE)
    # A 400 ms pause is shorter than silence_ms; a tail at 70% of threshold passes the release bar.
    soft = tone(300, amplitude=int(500 * 0.7 * 2**0.5))
    events = feed_chunks(vad, tone(500) + quiet(400) + tone(500) + soft + quiet(1000))
    assert [k for k, _ in events] == ["start", "end"]
    assert events[1][1] == pytest.approx(500 + 400 + 500 + 300 + 200, abs=20)


def test_max_utterance_cuts_long_speech() -> None:
    vad = EnergyVad(RATE, VadSettings(max_utterance_ms=1000))
    events = feed_chunks(vad, tone(2500) + quiet(1000))
    assert [k for k, _ in events] == ["start", "end", "start", "end", "start", "end"]
    assert events[1][1] == pytest.approx(1000, abs=1)


def test_flush_returns_open_utterance_including_partial_frame() -> None:
    vad = EnergyVad(RATE)
    vad.feed(tone(500) + tone(5))
    end = vad.flush()
    assert end is not None and end.kind == "end"
    assert ms(end.pcm) == pytest.approx(505, abs=1)
    assert vad.flush() is None


def test_settings_parse_camel_case_and_reject_unknown_keys() -> None:
    parsed = msgspec.convert({"silenceMs": 500, "preRollMs": 100}, VadSettings)
    assert (parsed.silence_ms, parsed.pre_roll_ms, parsed.start_ms) == (500, 100, 60)
    with pytest.raises(msgspec.ValidationError, match="silence"):
        msgspec.convert({"silence": 500}, VadSettings)


class FakeRecognizer:
    def __init__(self, texts: list[str], delay: float = 0.0) -> None:
        self.texts = texts
        self.delay = delay
        self.calls: list[tuple[float, int]] = []

    async def __call__(self, pcm: bytes, sample_rate: int) -> tuple[str, float | None]:
        self.calls.append((ms(pcm), sample_rate))
        await asyncio.sleep(self.delay)
        text = self.texts.pop(0)
        if text == "boom":
            raise RuntimeError("recognizer failed")
        return text, 0.5


async def collect(stream: TranscriptionStream) -> list[TranscriptEvent]:
    return [event async for event in stream.events()]


async def test_stream_emits_started_then_final_in_order() -> None:
    recognizer = FakeRecognizer(["first", "second"], delay=0.01)
    stream = SegmentingTranscriptionStream(recognizer, RATE)
    assert isinstance(stream, TranscriptionStream)
    consumer = asyncio.create_task(collect(stream))
    audio = quiet(300) + tone(500) + quiet(900) + tone(400) + quiet(900)
    for i in range(0, len(audio), FRAME):
        await stream.send(audio[i : i + FRAME])
    await stream.aclose()
    events = await asyncio.wait_for(consumer, 2)
    assert [(e.kind, e.text) for e in events] == [
        ("speech_started", ""),
        ("speech_started", ""),
        ("final", "first"),
        ("final", "second"),
    ] or [(e.kind, e.text) for e in events] == [
        ("speech_started", ""),
        ("final", "first"),
        ("speech_started", ""),
        ("final", "second"),
    ]
    assert events[-1].confidence == 0.5
    assert [rate for _, rate in recognizer.calls] == [RATE, RATE]
    assert recognizer.calls[0][0] == pytest.approx(200 + 500 + 200, abs=20)


async def test_send_does_not_wait_for_recognition() -> None:
    stream = SegmentingTranscriptionStream(FakeRecognizer(["slow"], delay=10), RATE)
    await asyncio.wait_for(stream.send(tone(500) + quiet(1000)), 0.5)
    consumer = asyncio.create_task(collect(stream))
    await asyncio.sleep(0.05)
    assert not consumer.done()
    consumer.cancel()
    # aclose waits for the pending utterance; timing out cancels the recognition with it.
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(stream.aclose(), 0.05)


async def test_aclose_flushes_pending_utterance_and_ends_events() -> None:
    recognizer = FakeRecognizer(["pending"])
    stream = SegmentingTranscriptionStream(recognizer, RATE)
    await stream.send(tone(600))  # still speaking: no end yet
    await stream.aclose()
    events = await asyncio.wait_for(collect(stream), 1)
    assert [(e.kind, e.text) for e in events] == [("speech_started", ""), ("final", "pending")]
    assert recognizer.calls[0][0] == pytest.approx(600, abs=1)
    await stream.send(tone(600))  # after close: dropped, not an error
    assert await asyncio.wait_for(collect(stream), 1) == []


async def test_empty_text_and_failures_are_skipped() -> None:
    stream = SegmentingTranscriptionStream(FakeRecognizer(["  ", "boom", "kept"]), RATE)
    for _ in range(3):
        await stream.send(tone(300) + quiet(800))
    await stream.aclose()
    finals = [e.text for e in await asyncio.wait_for(collect(stream), 1) if e.kind == "final"]
    assert finals == ["kept"]


async def test_aclose_without_audio_ends_events() -> None:
    stream = SegmentingTranscriptionStream(FakeRecognizer([]), RATE)
    await stream.aclose()
    await stream.aclose()
    assert await asyncio.wait_for(collect(stream), 1) == []
