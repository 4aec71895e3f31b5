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
    """Bot speech without a speech engine: a tenth of a second of quiet per line."""

    async def synthesize(self, text: str) -> AsyncIterator[SynthesizedAudio]:
        yield SynthesizedAudio(pcm=b"\x00\x00" * 800, sample_rate=8000)


class ListeningSTT:
    """A recognizer that keeps the caller's audio (16-bit PCM at 8 kHz) and never hears words."""

    sample_rate = 8000

    def __init__(self) -> None:
        self.heard = bytearray()

    async def open_stream(self, *, language: str = "en-US") -> _Ear:
        return _Ear(self.heard)


class _Ear:
    def __init__(self, heard: bytearray) -> None:
        self.heard = heard
        self._closed = asyncio.Event()

    async def send(self, pcm: bytes) -> None:
        self.heard += pcm

    async def events(self) -> AsyncIterator[TranscriptEvent]:
        await self._closed.wait()
        return
        yield  # an async generator that ends when the stream is closed

    async def aclose(self) -> None:
        self._closed.set()


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
