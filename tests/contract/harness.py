"""Shared pieces of the contract suite: the app for a kit, and speech engines that take no time."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from typing import Any

from litestar.testing import TestClient
from twilio_helpers import from_client

from telephony.config import Config
from telephony.providers import SynthesizedAudio, TranscriptEvent
from telephony.runtime import Runtime
from telephony.server import create_app
from telephony.store import CallStore, MemoryCallStore

from .kits import CarrierKit


class QuickVoice:
    """Bot speech without a speech engine: quiet, a tenth of a second per line unless told."""

    def __init__(self, seconds: float = 0.1) -> None:
        self.samples = int(8000 * seconds)

    async def synthesize(self, text: str) -> AsyncIterator[SynthesizedAudio]:
        yield SynthesizedAudio(pcm=b"\x00\x00" * self.samples, sample_rate=8000)


class ListeningSTT:
    """A recognizer that keeps the caller's audio (16-bit PCM at 8 kHz) and never hears words.

    With ``barge_in``, the first audio it is sent is reported as the caller starting to speak.
    """

    sample_rate = 8000

    def __init__(self, *, barge_in: bool = False) -> None:
        self.heard = bytearray()
        self.barge_in = barge_in

    async def open_stream(self, *, language: str = "en-US") -> _Ear:
        return _Ear(self)


class _Ear:
    def __init__(self, stt: ListeningSTT) -> None:
        self.stt = stt
        self._events: asyncio.Queue[TranscriptEvent | None] = asyncio.Queue()

    async def send(self, pcm: bytes) -> None:
        if self.stt.barge_in and not self.stt.heard:
            self._events.put_nowait(TranscriptEvent(kind="speech_started"))
        self.stt.heard += pcm

    async def events(self) -> AsyncIterator[TranscriptEvent]:
        while (event := await self._events.get()) is not None:
            yield event

    async def aclose(self) -> None:
        self._events.put_nowait(None)


@contextmanager
def kit_app(
    kit: CarrierKit, config: Config, *, persistent: bool = False, **parts: Any
) -> Iterator[tuple[TestClient[Any], Runtime]]:
    """The real app for ``config``, reached from this machine, with ``kit`` watching its carrier.

    ``persistent`` keeps calls in SQLite under the config's ``store`` directory (building the
    app twice on one directory is a restart); otherwise they live in memory.
    """
    store: CallStore | None = None if persistent else MemoryCallStore()
    runtime = Runtime.build(config, store=store, **parts)
    kit.bind(runtime)
    with TestClient(from_client(create_app(config, runtime=runtime), "127.0.0.1")) as client:
        yield client, runtime
