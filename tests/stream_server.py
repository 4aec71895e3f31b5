"""A Twilio stream-mode server in its own process, served as ``telephony serve`` serves, for restart tests.

Usage: ``python stream_server.py <store dir> <port> <lease ms> <drain ms> <maxConcurrentCalls>``.

Twilio's REST API is mocked inside this process (respx): each hang-up it is asked for is
appended to ``<store dir>/hangups`` as ``<CallSid> <Status>``, and answered as Twilio does.
Speech is scripted: every utterance the caller makes is heard as "hello", and every line the
bot says is a tone as long as its words, so a test can follow turns and marks without speech engines.
"""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import parse_qs

import httpx
import respx
from twilio_helpers import twilio_config

from telephony.providers import AgentReply, AgentRequest, SegmentingTranscriptionStream, SynthesizedAudio
from telephony.runtime import Runtime
from telephony.server import create_app, serve
from telephony.store import SqliteCallStore

TWILIO_API = "https://api.twilio.com"


class HeardHello:
    sample_rate = 16000

    async def _transcribe(self, pcm: bytes, rate: int) -> tuple[str, float | None]:
        return "hello", 0.9

    async def open_stream(self, *, language: str = "en-US") -> SegmentingTranscriptionStream:
        return SegmentingTranscriptionStream(self._transcribe, self.sample_rate)


class Beep:
    """A tenth of a second of sound per word, so a test can tell lines apart by their length."""

    async def synthesize(self, text: str) -> AsyncIterator[SynthesizedAudio]:
        yield SynthesizedAudio(pcm=b"\x00\x10" * 1600 * len(text.split()), sample_rate=16000)


class Echo:
    async def reply(self, request: AgentRequest) -> AgentReply:
        return AgentReply(text=f"You said {request.transcript[-1].text}.")


def _hangup_recorder(directory: Path) -> respx.MockRouter:
    log = directory / "hangups"

    def hang_up(request: httpx.Request) -> httpx.Response:
        sid = request.url.path.rsplit("/", 1)[-1].removesuffix(".json")
        status = parse_qs(request.content.decode()).get("Status", ["?"])[0]
        with log.open("a") as out:
            out.write(f"{sid} {status}\n")
        return httpx.Response(200, json={"sid": sid, "status": status})

    router = respx.mock(assert_all_mocked=True, assert_all_called=False)
    router.post(url__regex=rf"{TWILIO_API}/2010-04-01/Accounts/\w+/Calls/\w+\.json").mock(side_effect=hang_up)
    return router


def main() -> None:
    directory, port = Path(sys.argv[1]), int(sys.argv[2])
    lease_ms, drain_ms, max_calls = (int(value) for value in sys.argv[3:6])
    config = twilio_config(
        streaming={"enabled": True, "leaseMs": lease_ms, "preStartTimeoutMs": 1000},
        serve={"port": port, "bind": "127.0.0.1", "drainTimeoutMs": drain_ms},
        maxConcurrentCalls=max_calls,
        maxDurationSeconds=600,
        gatherTimeoutSeconds=600,  # no re-prompt: every line the bot says is one the test expects
    )
    runtime = Runtime.build(
        config, store=SqliteCallStore(directory), agent=Echo(), tts=Beep(), stt=HeardHello()
    )
    with _hangup_recorder(directory):
        serve(create_app(config, runtime=runtime), log_level="warning")


if __name__ == "__main__":
    main()
