"""Shared pieces of the contract suite: the app for a kit, and speech engines that take no time."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx
from litestar import Litestar
from litestar.routes import HTTPRoute
from litestar.testing import TestClient
from twilio_helpers import from_client

from telephony.config import Config
from telephony.media import StreamSlots
from telephony.providers import SynthesizedAudio, TranscriptEvent
from telephony.runtime import Runtime
from telephony.server import background_server, create_app, free_port
from telephony.store import CallStore, MemoryCallStore

from .kits import CarrierKit, Webhook


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


def stream_slots(app: Litestar) -> StreamSlots:
    """The counters the app's stream routes keep (shared by all of the router's handlers)."""
    for route in app.routes:
        if isinstance(route, HTTPRoute):
            slots: StreamSlots = route.route_handlers[0].opt["telephony"].slots
            return slots
    raise AssertionError("no telephony route")


@dataclass
class Served:
    """The real app on a real loopback socket, as a carrier reaches it."""

    runtime: Runtime
    app: Litestar
    http: httpx.AsyncClient
    ws_base: str

    async def post(self, hook: Webhook) -> httpx.Response:
        """Deliver a webhook the carrier signed for the public URL to this socket."""
        parts = urlsplit(hook.url)
        path = parts.path + (f"?{parts.query}" if parts.query else "")
        return await self.http.post(path, content=hook.body, headers=hook.headers)

    def local(self, url: str) -> str:
        """The public ``wss://`` URL ``url`` as it reaches this socket: same path, our address."""
        return self.ws_base + urlsplit(url).path


@asynccontextmanager
async def kit_server(kit: CarrierKit, config: Config, **parts: Any) -> AsyncIterator[Served]:
    """:func:`kit_app` on a real uvicorn socket: what ``telephony serve`` runs, limits and all."""
    runtime = Runtime.build(config, store=MemoryCallStore(), **parts)
    kit.bind(runtime)
    app = create_app(config, runtime=runtime)
    async with (
        background_server(app, port=free_port()) as url,
        httpx.AsyncClient(base_url=url, timeout=30) as http,
    ):
        yield Served(runtime, app, http, url.replace("http://", "ws://"))
