"""Stream mode over the outside example adapter: Acme's media dialect against the real server.

The connect-stream action goes out as Acme's ``streaming_start`` command; the token and call id
in its custom parameters must come back in Acme's ``start`` frame for the socket to be accepted,
and the conversation then runs over Acme's frames: audio, marks echoed back, the end of the call.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import respx
from acme_far_end import ACME_CREDENTIALS, AcmeFarEnd
from test_stream_turns import ScriptedSTT, _tone

from telephony.config import config_from_mapping
from telephony.providers import SynthesizedAudio
from telephony.runtime import Runtime
from telephony.server import background_server, create_app, free_port
from telephony.store import CallRecord, MemoryCallStore

CALLER = "+14158675309"
OUR_NUMBER = "+18005551212"


class _Voice:
    """Half a second of quiet per line: enough audio for marks to matter."""

    async def synthesize(self, text: str) -> AsyncIterator[SynthesizedAudio]:
        for _ in range(5):
            yield SynthesizedAudio(pcm=b"\x00\x00" * 1600, sample_rate=16000)


async def _tone_for(line: str) -> bytes:
    return _tone(600)


async def _ended(runtime: Runtime, provider_call_id: str) -> CallRecord:
    for _ in range(200):
        record = await runtime.store.get_by_provider_id("acme", provider_call_id)
        if record is not None and record.terminal:
            return record
        await asyncio.sleep(0.05)
    raise AssertionError(f"call {provider_call_id} did not end")


async def test_a_stream_conversation_over_acme(no_network: respx.MockRouter) -> None:
    port = free_port()
    public = f"http://127.0.0.1:{port}"
    config = config_from_mapping(
        {
            "provider": "acme",
            "publicUrl": public,
            "fromNumber": OUR_NUMBER,
            "inboundPolicy": "open",
            "agent": "builtin",
            "streaming": {"enabled": True},
            "acme": ACME_CREDENTIALS,
        },
        env={},
    )
    runtime = Runtime.build(config, store=MemoryCallStore(), stt=ScriptedSTT(["Goodbye."]), tts=_Voice())
    far_end = AcmeFarEnd(f"{public}/voice/webhook", [], voice=_tone_for)
    far_end.mock_rest_api(no_network)
    async with background_server(create_app(config, runtime=runtime), port=port):
        call = await far_end.inbound_call(caller=CALLER, callee=OUR_NUMBER, script=["Goodbye."])
        record = await _ended(runtime, call.provider_call_id)
    assert call.media == "stream" and call.bot_audio_ms >= 900  # greeting and goodbye, heard
    assert call.ended_by == "bot"
    commands = [name for name, _ in far_end.commands[call.provider_call_id]]
    assert commands == ["answer", "streaming_start", "hangup"]
    assert record.media == "stream" and record.state == "hangup-bot"
    assert [(turn.speaker, turn.text) for turn in record.transcript] == [
        ("bot", "Hello! How can I help you today?"),
        ("user", "Goodbye."),
        ("bot", "Thanks for calling. Goodbye!"),
    ]
