"""Run the app on a real socket inside the current event loop (the demo and tests use this)."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import uvicorn
from litestar import Litestar

from ..runtime import Runtime
from ._app import MAX_FRAME_BYTES, server_limits
from ._request_deadline import request_deadline_protocol

__all__ = ["background_server", "free_port"]


def free_port(host: str = "127.0.0.1") -> int:
    """A port that was free a moment ago (good enough for a loopback demo or test)."""
    with socket.socket() as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


def _limits(app: Litestar) -> dict[str, Any]:
    """The limits ``telephony serve`` enforces: from the app's own config when it has one."""
    runtime = getattr(app.state, "runtime", None)
    if isinstance(runtime, Runtime):
        return server_limits(runtime.config)
    return {"ws_max_size": MAX_FRAME_BYTES, "http": request_deadline_protocol()}


@asynccontextmanager
async def background_server(app: Litestar, *, host: str = "127.0.0.1", port: int) -> AsyncIterator[str]:
    """Serve ``app`` with uvicorn, as ``telephony serve`` does, until the block exits; yields the base URL."""
    limits = _limits(app) | {"host": host, "port": port}
    config = uvicorn.Config(app, log_level="warning", lifespan="on", **limits)
    server = uvicorn.Server(config)
    serving = asyncio.create_task(server.serve())
    try:
        while not server.started:
            if serving.done():
                serving.result()
                raise RuntimeError("the server stopped before it started")
            await asyncio.sleep(0.02)
        yield f"http://{host}:{port}"
    finally:
        server.should_exit = True
        await serving
