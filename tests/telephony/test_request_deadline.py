"""A request must arrive whole within serve.requestTimeoutMs; raw sockets against a real uvicorn."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest
import uvicorn
from websockets.asyncio.client import connect

from telephony.config import config_from_mapping
from telephony.runtime import Runtime
from telephony.server import (
    background_server,
    create_app,
    free_port,
    request_deadline_protocol,
    server_limits,
)
from telephony.store import MemoryCallStore

HOST = "127.0.0.1"


@asynccontextmanager
async def _serving(timeout_ms: int) -> AsyncIterator[int]:
    port = free_port()
    config = config_from_mapping(
        {
            "provider": "local",
            "serve": {"port": port, "requestTimeoutMs": timeout_ms},
            "agent": "builtin",
            "streaming": {"enabled": True},
            "stt": "pocketsphinx",
            "ttsEngine": "espeak",
            "carriers": {"local": {"secret": "deadline-test-secret"}},
        },
        env={},
    )
    assert server_limits(config)["http"].request_timeout == timeout_ms / 1000
    runtime = Runtime.build(config, store=MemoryCallStore())
    async with background_server(create_app(config, runtime=runtime), port=port):
        yield port


@asynccontextmanager
async def _open(port: int) -> AsyncIterator[tuple[asyncio.StreamReader, asyncio.StreamWriter]]:
    """A raw connection, closed however the test ends (a server with it open would not stop)."""
    reader, writer = await asyncio.open_connection(HOST, port)
    try:
        yield reader, writer
    finally:
        writer.close()


async def _until_closed(reader: asyncio.StreamReader) -> bytes:
    """Everything the server sends until it closes the connection (a bounded wait)."""
    return await asyncio.wait_for(reader.read(), 10)


@pytest.mark.parametrize(
    "sent",
    [
        b"",
        b"POST /voice/webhook HTTP/1.1\r\nHost: x\r\nContent-Ty",
        b"POST /voice/webhook HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nAnswe",
    ],
    ids=["nothing", "half-the-headers", "part-of-the-body"],
)
async def test_a_stalled_request_is_answered_408_and_closed(
    sent: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    async with _serving(timeout_ms=300) as port, _open(port) as (reader, writer):
        with caplog.at_level(logging.WARNING):
            writer.write(sent)
            await writer.drain()
            answer = await _until_closed(reader)
    assert answer.startswith(b"HTTP/1.1 408 "), answer
    assert answer.endswith(b"request not received in time\n")
    assert any("no whole request within 0.3 s" in r.getMessage() for r in caplog.records)
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert not errors, "a stalled client is no error of ours"


async def test_a_slow_request_that_arrives_in_time_is_served() -> None:
    async with _serving(timeout_ms=5000) as port, _open(port) as (reader, writer):
        for piece in (b"GET /heal", b"th HTTP/1.1\r\nHo", b"st: x\r\n", b"\r\n"):
            writer.write(piece)
            await writer.drain()
            await asyncio.sleep(0.1)
        status = await asyncio.wait_for(reader.readline(), 10)
    assert status.startswith(b"HTTP/1.1 200 "), status


async def test_each_request_on_a_kept_alive_connection_has_its_own_deadline() -> None:
    async with _serving(timeout_ms=300) as port, _open(port) as (reader, writer):
        writer.write(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        status = await asyncio.wait_for(reader.readline(), 10)
        assert status.startswith(b"HTTP/1.1 200 "), status
        writer.write(b"GET /health HTTP/1.1\r\nHo")  # then stalls
        rest = await _until_closed(reader)
    assert b"HTTP/1.1 408 " in rest


async def test_the_apps_own_time_is_not_counted() -> None:
    async def slow(scope: dict[str, object], receive: object, send: object) -> None:
        if scope["type"] != "http":
            return
        await asyncio.sleep(0.6)  # twice the deadline, after the request arrived
        await send({"type": "http.response.start", "status": 200, "headers": []})  # type: ignore[operator]
        await send({"type": "http.response.body", "body": b"done"})  # type: ignore[operator]

    port = free_port()
    config = uvicorn.Config(
        slow, host=HOST, port=port, lifespan="off", log_level="warning", http=request_deadline_protocol(300)
    )
    server = uvicorn.Server(config)
    serving = asyncio.create_task(server.serve())
    try:
        while not server.started:
            await asyncio.sleep(0.02)
        async with _open(port) as (reader, writer):
            writer.write(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            status = await asyncio.wait_for(reader.readline(), 10)
    finally:
        server.should_exit = True
        await serving
    assert status.startswith(b"HTTP/1.1 200 "), status


async def test_a_media_socket_outlives_the_request_deadline() -> None:
    async with _serving(timeout_ms=200) as port, connect(f"ws://{HOST}:{port}/voice/stream") as ws:
        await asyncio.sleep(0.5)  # longer than the deadline, well within preStartTimeoutMs
        pong = await ws.ping()
        await asyncio.wait_for(pong, 5)
