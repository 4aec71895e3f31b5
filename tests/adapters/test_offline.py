"""Offline adapters: espeak-ng synthesis, pocketsphinx recognition (a real round trip), the agent."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Literal

import numpy as np
import pytest

from telephony.adapters.offline import BuiltinAgent, create_agent, create_stt, create_tts
from telephony.adapters.offline.stt import PocketsphinxSTT
from telephony.adapters.offline.tts import EspeakTTS, split_sentences
from telephony.media import InboundDecoder, OutboundEncoder, StreamResampler
from telephony.providers import (
    AGENTS,
    MULAW_8K,
    STT,
    TTS,
    AdapterConfigError,
    AgentRequest,
    SynthesizedAudio,
    TranscriptionStream,
    Turn,
    load,
)

# ---------------------------------------------------------------- helpers


async def synthesize(tts: EspeakTTS, text: str) -> list[SynthesizedAudio]:
    return [chunk async for chunk in tts.synthesize(text)]


def to_16k(chunks: list[SynthesizedAudio]) -> bytes:
    resampler = StreamResampler(chunks[0].sample_rate, 16000)
    return b"".join(resampler.process(c.pcm) for c in chunks) + resampler.flush()


def over_the_phone(chunks: list[SynthesizedAudio]) -> bytes:
    """What the recognizer gets after a mu-law 8 kHz call leg."""
    encoder = OutboundEncoder(chunks[0].sample_rate, MULAW_8K)
    frames = [frame for c in chunks for frame in encoder.feed(c.pcm)] + encoder.flush()
    transcoder = InboundDecoder(MULAW_8K, 16000)
    return b"".join(transcoder.to_pcm(f) for f in frames) + transcoder.flush_to_pcm()


async def recognize(stt: PocketsphinxSTT, pcm16k: bytes) -> list[str]:
    stream = await stt.open_stream()
    audio = pcm16k + b"\x00\x00" * 16000  # the caller then stays quiet for a second
    for i in range(0, len(audio), 640):  # 20 ms chunks, as the media loop sends them
        await stream.send(audio[i : i + 640])
    await stream.aclose()
    return [event.text async for event in stream.events() if event.kind == "final"]


def rms(pcm: bytes) -> float:
    return float(np.sqrt(np.mean(np.frombuffer(pcm, dtype=np.int16).astype(np.float64) ** 2)))


def request(*lines: tuple[Literal["bot", "user"], str]) -> AgentRequest:
    turns = tuple(Turn(speaker=speaker, text=text, at=float(i)) for i, (speaker, text) in enumerate(lines))
    return AgentRequest(call_id="c1", transcript=turns)


@pytest.fixture
async def stt() -> AsyncIterator[PocketsphinxSTT]:
    recognizer = PocketsphinxSTT()
    yield recognizer
    await recognizer.aclose()


# ---------------------------------------------------------------- registration and settings


def test_entry_points_resolve_to_the_factories() -> None:
    assert load(AGENTS, "builtin") is create_agent
    assert load(TTS, "espeak") is create_tts
    assert load(STT, "pocketsphinx") is create_stt


def test_settings_are_strict_and_name_the_key_path() -> None:
    with pytest.raises(AdapterConfigError, match=r"espeak\.rate"):
        create_tts({"rate": 20})
    with pytest.raises(AdapterConfigError, match=r"espeak\.voice"):
        create_tts({"voice": "zz-nope"})
    with pytest.raises(AdapterConfigError, match=r"pocketsphinx\.vad\.silenceMs"):
        create_stt({"vad": {"silenceMs": 0}})
    with pytest.raises(AdapterConfigError, match="pitch"):
        create_tts({"pitch": 50})
    with pytest.raises(AdapterConfigError, match="greeting"):
        create_agent({"greeting": ""})
    assert create_stt({"vad": {"silenceMs": 500}}).vad.silence_ms == 500
    assert create_tts({"voice": "en-gb", "rate": 200}).rate == 200


# ---------------------------------------------------------------- TTS


async def test_tts_yields_native_rate_pcm_in_short_chunks() -> None:
    chunks = await synthesize(EspeakTTS(), "Hello, this is a test.")
    assert {c.sample_rate for c in chunks} == {22050}
    assert all(0 < len(c.pcm) <= 4410 and len(c.pcm) % 2 == 0 for c in chunks)
    pcm = b"".join(c.pcm for c in chunks)
    assert 0.6 < len(pcm) / 2 / 22050 < 3.0
    assert rms(pcm) > 500


async def test_tts_speaks_sentence_by_sentence() -> None:
    assert split_sentences("Hi there. How are you?\nFine!  ") == ["Hi there.", "How are you?", "Fine!"]
    assert split_sentences(" ... ") == ["..."]
    assert await synthesize(EspeakTTS(), "   ") == []
    one = b"".join(c.pcm for c in await synthesize(EspeakTTS(), "How are you?"))
    two = b"".join(c.pcm for c in await synthesize(EspeakTTS(), "Hi there. How are you?"))
    assert len(two) > len(one) * 1.3


async def test_concurrent_synthesis_keeps_each_instance_settings() -> None:
    # espeak adds a little random noise, so compare durations, not bytes.
    slow, fast = EspeakTTS(rate=120), EspeakTTS(voice="en-gb", rate=300)
    text = "The quick brown fox jumps over the lazy dog. It barks."
    serial = [len(b"".join(c.pcm for c in await synthesize(t, text))) for t in (slow, fast)]
    together = await asyncio.gather(synthesize(slow, text), synthesize(fast, text))
    assert [len(b"".join(c.pcm for c in chunks)) for chunks in together] == pytest.approx(serial, rel=0.02)
    assert serial[0] > serial[1] * 1.8


# ---------------------------------------------------------------- STT


@pytest.mark.parametrize(
    ("phrase", "expected"),
    [
        ("what is the weather like", {"what", "weather", "like"}),
        ("one two three four five", {"three", "four", "five"}),
    ],
)
async def test_tts_to_stt_round_trip(stt: PocketsphinxSTT, phrase: str, expected: set[str]) -> None:
    chunks = await synthesize(EspeakTTS(), phrase)
    finals = await recognize(stt, to_16k(chunks))
    assert len(finals) == 1
    assert expected <= set(finals[0].split())


async def test_round_trip_over_a_mulaw_phone_leg(stt: PocketsphinxSTT) -> None:
    # 8 kHz mu-law loses much of what the 16 kHz model listens to: expect a partial match.
    chunks = await synthesize(EspeakTTS(voice="en-us+m3"), "what is the weather like")
    (final,) = await recognize(stt, over_the_phone(chunks))
    assert len({"what", "the", "weather", "like"} & set(final.split())) >= 2


async def test_stt_stream_contract_and_silence(stt: PocketsphinxSTT) -> None:
    assert stt.sample_rate == 16000
    stream = await stt.open_stream()
    assert isinstance(stream, TranscriptionStream)
    await stream.send(b"\x00\x00" * 32000)
    await stream.aclose()
    assert [e async for e in stream.events()] == []
    with pytest.raises(ValueError, match="16000"):
        await stt.transcribe(b"\x00\x00" * 800, 8000)


async def test_a_dead_worker_loses_one_utterance_with_a_failed_event_then_recognition_resumes(
    stt: PocketsphinxSTT,
) -> None:
    pcm = to_16k(await synthesize(EspeakTTS(), "one two three")) + b"\x00\x00" * 16000
    stream = await stt.open_stream()  # starts the worker
    assert stt._pool is not None
    for process in list(stt._pool._processes.values()):  # type: ignore[attr-defined]
        process.kill()  # as the out-of-memory killer would
        process.join(10)
    for i in range(0, len(pcm), 640):
        await stream.send(pcm[i : i + 640])
    await stream.aclose()
    events = [e for e in [e async for e in stream.events()] if e.kind != "speech_started"]
    assert [(e.kind, e.text) for e in events] == [
        ("failed", "RuntimeError: the pocketsphinx worker process died")
    ]
    finals = await recognize(stt, pcm)  # a fresh worker serves the next utterance
    assert len(finals) == 1 and {"one", "two", "three"} & set(finals[0].split())


async def test_recognition_does_not_block_the_event_loop(stt: PocketsphinxSTT) -> None:
    pcm = to_16k(await synthesize(EspeakTTS(), "one two three four five"))
    await stt.open_stream()  # loads the model
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.01)
            ticks += 1

    task = asyncio.create_task(ticker())
    started = time.perf_counter()
    text, confidence = await stt.transcribe(pcm, 16000)
    elapsed = time.perf_counter() - started
    task.cancel()
    assert "three" in text.split()
    assert confidence is None or 0.0 <= confidence <= 1.0
    assert ticks >= int(elapsed / 0.01 * 0.5)  # the loop kept running during the decode


# ---------------------------------------------------------------- agent


def clock() -> datetime:
    return datetime(2024, 3, 5, 15, 7)


async def test_agent_greets_before_the_caller_speaks() -> None:
    reply = await create_agent({"greeting": "Acme, hello."}).reply(request())
    assert (reply.text, reply.end_call) == ("Acme, hello.", False)


@pytest.mark.parametrize(
    "said", ["goodbye", "ok bye", "please hang up", "that's all", "thank you that's it", "Good-bye!"]
)
async def test_agent_goodbye_ends_the_call(said: str) -> None:
    reply = await BuiltinAgent().reply(request(("bot", "Hello!"), ("user", said)))
    assert reply.end_call is True
    assert "goodbye" in reply.text.lower()


async def test_agent_answers_time_date_and_help() -> None:
    agent = BuiltinAgent(clock=clock)
    assert (await agent.reply(request(("user", "what time is it")))).text == "It's 3:07 PM."
    assert (
        await agent.reply(request(("user", "what's the date today")))
    ).text == "Today is Tuesday, March 5, 2024."
    assert "time" in (await agent.reply(request(("user", "help me")))).text


async def test_agent_asks_to_repeat_unclear_input() -> None:
    for said in ["", "  ", "um uh", "?!"]:
        reply = await BuiltinAgent().reply(request(("bot", "Hi"), ("user", said)))
        assert "say it again" in reply.text and not reply.end_call


async def test_agent_echoes_with_variety_and_thanks_does_not_hang_up() -> None:
    agent = BuiltinAgent()
    first = await agent.reply(request(("user", "my order is late")))
    second = await agent.reply(request(("user", "x"), ("bot", first.text), ("user", "my order is late")))
    assert "my order is late" in first.text and "my order is late" in second.text
    assert first.text != second.text
    punctuated = await agent.reply(request(("user", "My order is late.")))
    assert punctuated.text == "You said: My order is late. How else can I help?"
    assert "What can I do" in (await agent.reply(request(("user", "Yes, I have a minute.")))).text
    thanks = await agent.reply(request(("user", "thank you")))
    assert not thanks.end_call and "anything else" in thanks.text.lower()


async def test_agent_no_after_a_question_ends_and_repeat_repeats() -> None:
    agent = BuiltinAgent()
    done = await agent.reply(request(("bot", "Is there anything else?"), ("user", "no thanks")))
    assert done.end_call
    again = await agent.reply(request(("bot", "It's 3:07 PM."), ("user", "can you repeat that")))
    assert again.text == "I said: It's 3:07 PM." and not again.end_call
