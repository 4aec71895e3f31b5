"""OpenAI adapters against a mocked OpenAI HTTP API: nothing here may reach the network.

Recent ``openai`` SDKs speak ``httpx2`` rather than ``httpx``, which respx does not patch, so a
small respx mocker (``openai_helpers.USING``) routes ``httpx2`` transport calls through the same
respx routers. With ``assert_all_mocked`` (respx's default) an unmatched request fails instead of going out.
"""

from __future__ import annotations

import json
import math
import struct
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
import respx
from openai_helpers import API, USING

from telephony import providers
from telephony.adapters.openai import (
    OpenAIAdapterError,
    OpenAIAgent,
    OpenAISTT,
    OpenAITTS,
    create_agent,
    create_stt,
    create_tts,
)
from telephony.adapters.openai.agent import FALLBACK_REPLY, FAREWELL
from telephony.adapters.openai.stt import to_wav

KEY = "sk-test-0123456789abcdef"


class _Chunks(httpx.AsyncByteStream):
    """A response body delivered in fixed, deliberately awkward pieces."""

    def __init__(self, chunks: list[bytes]) -> None:
        self._chunks = chunks

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for chunk in self._chunks:
            yield chunk


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "OPENAI_ORG_ID", "OPENAI_PROJECT_ID"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def api() -> Iterator[respx.MockRouter]:
    with respx.mock(base_url=API, using=USING, assert_all_called=False) as router:
        yield router


@pytest.fixture
async def agent() -> AsyncIterator[OpenAIAgent]:
    engine = create_agent({"apiKey": KEY, "ttsModel": "ignored-by-agent"})
    yield engine
    await engine.aclose()


@pytest.fixture
async def tts() -> AsyncIterator[OpenAITTS]:
    engine = create_tts({"apiKey": KEY, "instructions": "Warm and calm."})
    yield engine
    await engine.aclose()


@pytest.fixture
async def stt() -> AsyncIterator[OpenAISTT]:
    engine = create_stt({"apiKey": KEY, "model": "ignored-by-stt"})
    yield engine
    await engine.aclose()


def _completion(content: str | None, tool_calls: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": content}
    if tool_calls:
        message["tool_calls"] = tool_calls
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 0,
        "model": "gpt-4o-mini",
        "choices": [
            {
                "index": 0,
                "message": message,
                "finish_reason": "tool_calls" if tool_calls else "stop",
                "logprobs": None,
            }
        ],
    }


def _end_call(arguments: str) -> list[dict[str, Any]]:
    return [{"id": "call_1", "type": "function", "function": {"name": "end_call", "arguments": arguments}}]


def _request(**overrides: Any) -> providers.AgentRequest:
    fields: dict[str, Any] = {
        "call_id": "c1",
        "transcript": (
            providers.Turn(speaker="bot", text="Hi, this is Acme Dental.", at=0.0),
            providers.Turn(speaker="user", text="I need to move my appointment.", at=1.0),
            providers.Turn(speaker="user", text="  ", at=1.5),
        ),
        "from_number": "+15550100",
        "to_number": "+15550199",
        "direction": "outbound",
        "purpose": "confirm tomorrow's cleaning appointment",
    }
    fields.update(overrides)
    return providers.AgentRequest(**fields)


# ------------------------------------------------------------------------------ agent


async def test_agent_sends_transcript_and_returns_text(api: respx.MockRouter, agent: OpenAIAgent) -> None:
    route = api.post("/chat/completions").respond(200, json=_completion("Sure, **which** day works?"))

    reply = await agent.reply(_request())

    assert reply == providers.AgentReply(text="Sure, which day works?", end_call=False)
    request = route.calls.last.request
    assert request.headers["authorization"] == f"Bearer {KEY}"
    body = json.loads(request.content)
    assert body["model"] == "gpt-4o-mini"
    system, *turns = body["messages"]
    assert system["role"] == "system"
    assert "one or two short sentences" in system["content"]
    assert "confirm tomorrow's cleaning appointment" in system["content"]
    assert "+15550100" in system["content"]
    assert turns == [
        {"role": "assistant", "content": "Hi, this is Acme Dental."},
        {"role": "user", "content": "I need to move my appointment."},
    ]
    assert [tool["function"]["name"] for tool in body["tools"]] == ["end_call"]


async def test_agent_custom_system_prompt_keeps_call_details(api: respx.MockRouter) -> None:
    route = api.post("/chat/completions").respond(200, json=_completion("Hello."))
    engine = create_agent({"apiKey": KEY, "systemPrompt": "You are Max from Acme.", "model": "gpt-x"})
    try:
        await engine.reply(_request(transcript=()))
    finally:
        await engine.aclose()

    body = json.loads(route.calls.last.request.content)
    assert body["model"] == "gpt-x"
    assert body["messages"][0]["content"].startswith("You are Max from Acme.")
    assert "Purpose of the call: confirm" in body["messages"][0]["content"]
    assert len(body["messages"]) == 1


async def test_agent_end_call_tool_ends_with_goodbye(api: respx.MockRouter, agent: OpenAIAgent) -> None:
    api.post("/chat/completions").respond(
        200, json=_completion(None, _end_call('{"goodbye": "Great, see you tomorrow. Bye!"}'))
    )

    reply = await agent.reply(_request())

    assert reply == providers.AgentReply(text="Great, see you tomorrow. Bye!", end_call=True)


async def test_agent_end_call_prefers_spoken_content(api: respx.MockRouter, agent: OpenAIAgent) -> None:
    api.post("/chat/completions").respond(
        200, json=_completion("Thanks for calling!", _end_call('{"goodbye": "Bye."}'))
    )

    reply = await agent.reply(_request())

    assert reply == providers.AgentReply(text="Thanks for calling!", end_call=True)


async def test_agent_end_call_with_broken_arguments_says_farewell(
    api: respx.MockRouter, agent: OpenAIAgent
) -> None:
    api.post("/chat/completions").respond(200, json=_completion(None, _end_call("{not json")))

    reply = await agent.reply(_request())

    assert reply == providers.AgentReply(text=FAREWELL, end_call=True)


async def test_agent_empty_reply_falls_back(api: respx.MockRouter, agent: OpenAIAgent) -> None:
    api.post("/chat/completions").respond(200, json=_completion("  "))

    reply = await agent.reply(_request())

    assert reply == providers.AgentReply(text=FALLBACK_REPLY, end_call=False)


async def test_agent_server_error_is_clear_and_retried_once(
    api: respx.MockRouter, agent: OpenAIAgent
) -> None:
    route = api.post("/chat/completions").respond(
        500,
        json={"error": {"message": "The server had an error", "type": "server_error", "code": None}},
        headers={"retry-after-ms": "1", "x-request-id": "req_42"},
    )

    with pytest.raises(OpenAIAdapterError, match=r"chat completion failed \(HTTP 500, request id req_42\)"):
        await agent.reply(_request())

    assert route.call_count == 2


async def test_agent_error_never_shows_the_key(api: respx.MockRouter, agent: OpenAIAgent) -> None:
    api.post("/chat/completions").respond(
        401,
        json={"error": {"message": f"Incorrect API key provided: {KEY}.", "type": "invalid_request_error"}},
    )

    with pytest.raises(OpenAIAdapterError, match="HTTP 401") as caught:
        await agent.reply(_request())

    assert KEY not in str(caught.value)
    assert "sk-***" in str(caught.value)


# -------------------------------------------------------------------------------- tts


async def test_tts_streams_whole_samples_at_24khz(api: respx.MockRouter, tts: OpenAITTS) -> None:
    audio = bytes(range(1, 12))  # 11 bytes: five whole samples and a dangling half
    pieces = [audio[:3], audio[3:4], audio[4:9], audio[9:]]
    route = api.post("/audio/speech").mock(
        return_value=httpx.Response(200, headers={"content-type": "audio/pcm"}, stream=_Chunks(pieces))
    )

    chunks = [chunk async for chunk in tts.synthesize("Hello there.")]

    assert len(chunks) > 1, "audio must be streamed, not buffered into one chunk"
    assert all(chunk.sample_rate == 24000 for chunk in chunks)
    assert all(len(chunk.pcm) % 2 == 0 and chunk.pcm for chunk in chunks)
    assert b"".join(chunk.pcm for chunk in chunks) == audio[:10]
    body = json.loads(route.calls.last.request.content)
    assert body == {
        "model": "gpt-4o-mini-tts",
        "voice": "alloy",
        "input": "Hello there.",
        "response_format": "pcm",
        "instructions": "Warm and calm.",
    }


async def test_tts_voice_and_speed_settings(api: respx.MockRouter) -> None:
    route = api.post("/audio/speech").respond(200, content=b"\x00\x00")
    engine = create_tts({"apiKey": KEY, "voice": "coral", "speed": 1.25, "ttsModel": "tts-1"})
    try:
        chunks = [chunk async for chunk in engine.synthesize("Hi")]
    finally:
        await engine.aclose()

    assert chunks == [providers.SynthesizedAudio(b"\x00\x00", 24000)]
    body = json.loads(route.calls.last.request.content)
    assert (body["model"], body["voice"], body["speed"]) == ("tts-1", "coral", 1.25)
    assert "instructions" not in body


async def test_tts_error_is_clear(api: respx.MockRouter, tts: OpenAITTS) -> None:
    api.post("/audio/speech").respond(400, json={"error": {"message": "Unknown voice", "type": "bad"}})

    with pytest.raises(OpenAIAdapterError, match=r"speech synthesis failed \(HTTP 400.*Unknown voice"):
        _ = [chunk async for chunk in tts.synthesize("Hello")]


async def test_tts_blank_text_makes_no_request(api: respx.MockRouter, tts: OpenAITTS) -> None:
    route = api.post("/audio/speech").respond(200, content=b"\x00\x00")

    assert [chunk async for chunk in tts.synthesize("   ")] == []
    assert not route.called


# -------------------------------------------------------------------------------- stt


def _tone(seconds: float, sample_rate: int = 16000, amplitude: int = 8000) -> bytes:
    count = int(seconds * sample_rate)
    return struct.pack(
        f"<{count}h", *(int(amplitude * math.sin(2 * math.pi * 440 * i / sample_rate)) for i in range(count))
    )


def _silence(seconds: float, sample_rate: int = 16000) -> bytes:
    return b"\x00\x00" * int(seconds * sample_rate)


async def test_stt_transcribe_uploads_wav(api: respx.MockRouter, stt: OpenAISTT) -> None:
    route = api.post("/audio/transcriptions").respond(200, json={"text": " I'd like Tuesday. "})
    pcm = _tone(0.2)

    text, confidence = await stt.transcribe(pcm, 16000, language="en-US")

    assert (text, confidence) == ("I'd like Tuesday.", None)
    assert stt.sample_rate == 16000
    request = route.calls.last.request
    assert request.headers["content-type"].startswith("multipart/form-data")
    body = request.content
    assert b'filename="speech.wav"' in body
    assert b"gpt-4o-transcribe" in body
    assert to_wav(pcm, 16000) in body
    assert b'name="language"\r\n\r\nen\r\n' in body


async def test_stt_error_is_clear(api: respx.MockRouter, stt: OpenAISTT) -> None:
    api.post("/audio/transcriptions").respond(
        429, json={"error": {"message": "Rate limit", "type": "rate"}}, headers={"x-should-retry": "false"}
    )

    with pytest.raises(OpenAIAdapterError, match=r"transcription failed \(HTTP 429"):
        await stt.transcribe(_tone(0.1), 16000)


async def test_stt_empty_audio_makes_no_request(api: respx.MockRouter, stt: OpenAISTT) -> None:
    route = api.post("/audio/transcriptions").respond(200, json={"text": "x"})

    assert await stt.transcribe(b"", 16000) == ("", None)
    assert not route.called


async def _run_stream(engine: OpenAISTT, pcm: bytes) -> list[providers.TranscriptEvent]:
    stream = await engine.open_stream(language="en-US")
    assert isinstance(stream, providers.TranscriptionStream)
    frame = 640  # 20 ms at 16 kHz
    for offset in range(0, len(pcm), frame):
        await stream.send(pcm[offset : offset + frame])
    await stream.aclose()
    return [event async for event in stream.events()]


async def test_stt_stream_transcribes_each_utterance(api: respx.MockRouter, stt: OpenAISTT) -> None:
    route = api.post("/audio/transcriptions").respond(200, json={"text": "Tuesday at nine."})

    events = await _run_stream(stt, _silence(0.3) + _tone(0.6) + _silence(1.0))

    assert [(event.kind, event.text) for event in events] == [
        ("speech_started", ""),
        ("final", "Tuesday at nine."),
    ]
    assert route.call_count == 1
    body = route.calls.last.request.content
    assert b"RIFF" in body and b'filename="speech.wav"' in body
    assert b'name="language"\r\n\r\nen\r\n' in body


async def test_stt_stream_survives_a_failed_utterance(api: respx.MockRouter, stt: OpenAISTT) -> None:
    route = api.post("/audio/transcriptions").mock(
        side_effect=[
            httpx.Response(400, json={"error": {"message": "Audio too short", "type": "bad"}}),
            httpx.Response(200, json={"text": "Second try."}),
        ]
    )
    utterance = _tone(0.4) + _silence(1.0)

    events = await _run_stream(stt, utterance + utterance)

    assert [event.text for event in events if event.kind == "final"] == ["Second try."]
    assert route.call_count == 2


def test_wav_header_describes_pcm() -> None:
    wav = to_wav(b"\x01\x02\x03\x04\x05", 16000)

    assert wav[:4] == b"RIFF" and wav[8:12] == b"WAVE"
    channels, rate = struct.unpack_from("<HI", wav, 22)
    assert (channels, rate) == (1, 16000)
    assert wav.endswith(b"\x01\x02\x03\x04")


# --------------------------------------------------------------------- configuration


@pytest.mark.parametrize("factory", [create_agent, create_tts, create_stt])
def test_missing_api_key_names_the_setting(factory: Any) -> None:
    with pytest.raises(providers.AdapterConfigError) as caught:
        factory({"model": "gpt-4o-mini"})

    assert "openai.apiKey" in str(caught.value)
    assert "OPENAI_API_KEY" in str(caught.value)


async def test_api_key_from_the_declared_environment_variable(api: respx.MockRouter) -> None:
    schema = providers.settings_schema(providers.AGENTS, "openai")
    assert schema is not None and schema.env == {"apiKey": "OPENAI_API_KEY"}
    assert schema.missing({}) == ("apiKey",)
    route = api.post("/chat/completions").respond(200, json=_completion("Hi."))
    engine = create_agent(schema.with_environment({}, {"OPENAI_API_KEY": "sk-from-env"}))
    try:
        await engine.reply(_request())
    finally:
        await engine.aclose()

    assert route.calls.last.request.headers["authorization"] == "Bearer sk-from-env"


async def test_base_url_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    with respx.mock(base_url="https://llm.example.test/v1", using=USING) as router:
        route = router.post("/chat/completions").respond(200, json=_completion("Hi."))
        engine = create_agent({"apiKey": KEY, "baseUrl": "https://llm.example.test/v1"})
        try:
            await engine.reply(_request())
        finally:
            await engine.aclose()

    assert route.called


def test_invalid_setting_names_the_key() -> None:
    with pytest.raises(providers.AdapterConfigError, match=r"openai\.timeoutSeconds"):
        create_agent({"apiKey": KEY, "timeoutSeconds": 0})


def test_settings_repr_hides_the_key() -> None:
    from telephony.adapters.openai import OpenAISettings

    settings = providers.parse_settings("openai", {"apiKey": KEY, "voice": "nova"}, OpenAISettings)

    assert KEY not in repr(settings)
    assert "voice='nova'" in repr(settings)


def test_entry_points_resolve_to_factories() -> None:
    assert providers.load(providers.AGENTS, "openai") is create_agent
    assert providers.load(providers.TTS, "openai") is create_tts
    assert providers.load(providers.STT, "openai") is create_stt


def test_importing_adapters_does_not_import_the_sdk() -> None:
    code = (
        "import sys, telephony.adapters.openai\n"
        "telephony.adapters.openai.create_agent({'apiKey': 'sk-x'})\n"
        "assert 'openai' not in sys.modules, 'openai SDK imported eagerly'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_vad_settings_are_validated_under_openai() -> None:
    engine = create_stt({"apiKey": KEY, "vad": {"silenceMs": 300}})
    assert isinstance(engine, OpenAISTT)

    with pytest.raises(providers.AdapterConfigError, match=r"openai\.vad"):
        create_stt({"apiKey": KEY, "vad": {"silenceMillis": 300}})
