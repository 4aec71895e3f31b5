"""One of several Twilio-configured server instances sharing a Redis store, in its own process.

Usage: ``python scaled_server.py <redis url> <port> <name> <twilio api origin> <markup|stream>``.

Each instance's agent signs its replies with ``<name>``, so a test sees which instance answered
each turn; a caller line containing "slowly" keeps the agent thinking for a second. Speech
synthesis spells: each character becomes one 20 ms frame whose every μ-law byte is that
character's code, so the far end can read what it heard.
"""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator

import anyio
import uvicorn
from twilio_helpers import ACCOUNT_SID, AUTH_TOKEN, twilio_config

from telephony.media import ulaw_to_pcm16
from telephony.providers import AgentReply, AgentRequest, SegmentingTranscriptionStream, SynthesizedAudio
from telephony.runtime import Runtime
from telephony.server import create_app, server_limits

SAMPLES_PER_FRAME = 160


class SigningAgent:
    def __init__(self, name: str) -> None:
        self.name = name

    async def reply(self, request: AgentRequest) -> AgentReply:
        said = request.transcript[-1].text
        if "slowly" in said:
            await anyio.sleep(1.0)
        return AgentReply(text=f"{self.name} heard: {said}")


class SpellingTTS:
    sample_rate = 8000

    async def synthesize(self, text: str) -> AsyncIterator[SynthesizedAudio]:
        for character in text:
            sample = ulaw_to_pcm16(bytes([ord(character)]))
            yield SynthesizedAudio(pcm=sample * SAMPLES_PER_FRAME, sample_rate=self.sample_rate)


class DeafSTT:
    sample_rate = 16000

    async def _transcribe(self, pcm: bytes, rate: int) -> tuple[str, float | None]:
        return "", None

    async def open_stream(self, *, language: str = "en-US") -> SegmentingTranscriptionStream:
        return SegmentingTranscriptionStream(self._transcribe, self.sample_rate)


def main() -> None:
    redis_url, port, name, twilio_api, media = sys.argv[1], int(sys.argv[2]), *sys.argv[3:6]
    config = twilio_config(
        streaming=media == "stream",
        store=redis_url,
        storeKeyPrefix="scaled:",
        maxConcurrentCalls=50,
        gatherTimeoutSeconds=60,
        twilio={"accountSid": ACCOUNT_SID, "authToken": AUTH_TOKEN, "baseUrl": twilio_api},
    )
    runtime = Runtime.build(config, agent=SigningAgent(name), tts=SpellingTTS(), stt=DeafSTT())
    limits = server_limits(config) | {"host": "127.0.0.1", "port": port}
    uvicorn.run(create_app(config, runtime=runtime), log_level="warning", **limits)


if __name__ == "__main__":
    main()
