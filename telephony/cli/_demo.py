"""``telephony demo``: two real calls over HTTP and WebSockets on the simulated carrier, offline.

One markup-mode call (outbound, placed through the control API) and one stream-mode call
(inbound, caller audio synthesized, recognized and answered), each turn printed with its latency.
"""

from __future__ import annotations

import asyncio
import re
import secrets
import tempfile
import time
from collections.abc import Callable
from itertools import pairwise
from pathlib import Path
from typing import Any

from telephony.providers import MULAW_8K, TTS, TextToSpeech, load

from ..config import Config, config_from_mapping
from ..media import OutboundEncoder
from ..runtime import Runtime
from ..server import background_server, create_app, free_port
from ._client import ControlClient

__all__ = [
    "CALLER_NUMBER",
    "CALLER_VOICE",
    "DEMO_NUMBER",
    "MARKUP_SCRIPT",
    "STREAM_SCRIPT",
    "caller_voice",
    "demo_config",
    "run_demo",
]

MARKUP_SCRIPT = ["Yes, I have a minute.", "What time is it?", "Thanks, goodbye."]
STREAM_SCRIPT = ["hello", "what is the weather like", "goodbye"]
DEMO_NUMBER = "+15005550006"
CALLER_NUMBER = "+14155550100"
CALLER_VOICE = "en-us+m3"


def demo_config(store: Path, *, port: int, engines: str = "offline") -> Config:
    """The demo's config: local carrier, streaming on, offline engines unless asked otherwise."""
    offline = engines == "offline"
    return config_from_mapping(
        {
            "provider": "local",
            "fromNumber": DEMO_NUMBER,
            "inboundPolicy": "open",
            "maxConcurrentCalls": 2,
            "serve": {"port": port, "bind": "127.0.0.1"},
            "streaming": {"enabled": True},
            "store": str(store),
            "agent": "builtin" if offline else "auto",
            "stt": "pocketsphinx" if offline else "auto",
            "ttsEngine": "espeak" if offline else "auto",
            "carriers": {"local": {"secret": secrets.token_urlsafe(16), "script": MARKUP_SCRIPT}},
        }
    )


def caller_voice(tts: TextToSpeech) -> Callable[[str], Any]:
    """The simulated caller's voice: our own TTS, encoded the way a carrier would send it."""

    async def speak(text: str) -> bytes:
        encoder: OutboundEncoder | None = None
        audio = bytearray()
        async for chunk in tts.synthesize(text):
            encoder = encoder or OutboundEncoder(chunk.sample_rate, MULAW_8K)
            audio += b"".join(encoder.feed(chunk.pcm))
        if encoder is not None:
            audio += b"".join(encoder.flush())
        return bytes(audio)

    return speak


def _print_call(title: str, record: dict[str, Any], caller: list[Any], out: Callable[[str], None]) -> None:
    """Print the server's transcript, with what the caller really said when recognition differs."""
    out(f"\n{title}")
    user_turn = 0
    pending = ""
    for turn in record["transcript"]:
        if turn["speaker"] == "user":
            said = caller[user_turn].text if user_turn < len(caller) else turn["text"]
            heard = "" if _words(said) == _words(turn["text"]) else f'   (said: "{said}")'
            out(f"  caller: {turn['text']}{heard}")
            latency = caller[user_turn].latency_ms if user_turn < len(caller) else None
            user_turn += 1
            pending = f"  [reply after {latency:.0f} ms]" if latency is not None else ""
        else:
            out(f"  bot:    {turn['text']}{pending if user_turn else ''}")
            pending = ""
    out(f"  -> {record['state']} ({record['end_reason'] or 'no reason'}), {user_turn} caller turns")


def _words(text: str) -> list[str]:
    return re.findall(r"[a-z0-9']+", text.lower())


def _completed(record: dict[str, Any]) -> bool:
    speakers = [turn["speaker"] for turn in record["transcript"]]
    answered = any(a == "user" and b == "bot" for a, b in pairwise(speakers))
    return record["state"] in ("completed", "hangup-bot", "hangup-user") and answered


async def _wait_ended(client: ControlClient, call_id: str, timeout: float) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        record = await asyncio.to_thread(client.status, call_id)
        if record["ended_at"] is not None or time.monotonic() > deadline:
            return record
        await asyncio.sleep(0.1)


async def run_demo(
    *, engines: str = "offline", out: Callable[[str], None] = print, timeout: float = 90.0
) -> bool:
    """Run both demo calls; True when both completed with at least one answered caller turn."""
    with tempfile.TemporaryDirectory(prefix="telephony-demo-") as tmp:
        port = free_port()
        config = demo_config(Path(tmp), port=port, engines=engines)
        runtime = Runtime.build(config)
        simulator = getattr(runtime.carrier, "simulator", None)
        if simulator is None or runtime.tts is None:
            raise RuntimeError("the demo needs the local carrier and streaming speech engines")
        # The caller speaks with a different espeak voice, one pocketsphinx hears well over mu-law.
        simulator.voice = caller_voice(load(TTS, "espeak")({"voice": CALLER_VOICE}))
        async with background_server(create_app(config, runtime=runtime), port=port) as url:
            return await _calls(url, runtime, simulator, config, out, timeout)


async def _calls(
    url: str, runtime: Runtime, simulator: Any, config: Config, out: Callable[[str], None], timeout: float
) -> bool:
    """Both demo calls against the server at ``url``."""
    out(
        f"telephony demo: local carrier at {url}, engines: {type(runtime.agent).__name__}, "
        f"{type(runtime.tts).__name__}, {type(runtime.stt).__name__}"
    )
    client = ControlClient(url, config.control_token)
    try:
        placed = await asyncio.to_thread(
            client.place_call,
            CALLER_NUMBER,
            message="Hi, this is the demo calling. Do you have a minute?",
            mode="conversation",
            media="markup",
        )
        markup = await _wait_ended(client, placed["call_id"], timeout)
        sim_markup = simulator.calls.get(markup["provider_call_id"])
        _print_call(
            "Call 1: markup mode (carrier speech and gather webhooks), outbound",
            markup,
            [t for t in sim_markup.turns if t.speaker == "caller"] if sim_markup else [],
            out,
        )

        simulated = await asyncio.wait_for(
            simulator.inbound_call(caller=CALLER_NUMBER, callee=DEMO_NUMBER, script=STREAM_SCRIPT), timeout
        )
        stream_call = next(
            c
            for c in await asyncio.to_thread(client.calls)
            if c["provider_call_id"] == simulated.provider_call_id
        )
        stream = await _wait_ended(client, stream_call["call_id"], 10)
        _print_call(
            "Call 2: stream mode (media WebSocket, STT -> agent -> TTS), inbound",
            stream,
            [t for t in simulated.turns if t.speaker == "caller"],
            out,
        )
        out(f"  ({simulated.bot_audio_ms / 1000:.1f} s of bot audio streamed in 20 ms frames)")
    finally:
        client.close()
    ok = _completed(markup) and _completed(stream)
    out("\ndemo " + ("passed: both calls completed" if ok else "FAILED: a call did not complete"))
    return ok
