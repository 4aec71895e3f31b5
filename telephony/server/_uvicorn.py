"""``telephony serve``: uvicorn, with the app's limits, draining on the first stop signal.

The first SIGTERM (or Ctrl-C) runs the runtime's drain (:mod:`telephony.drain`) before uvicorn's
own shutdown, which would close every media socket at once; a second signal stops at once.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from types import FrameType

import uvicorn
from litestar import Litestar

from ..runtime import Runtime
from ._app import server_limits

__all__ = ["DrainingServer", "serve"]

_log = logging.getLogger("telephony")


class DrainingServer(uvicorn.Server):
    """A uvicorn server whose first stop signal drains the runtime before uvicorn's shutdown.

    Args:
        config: The uvicorn settings.
        runtime: The runtime the app serves.
        drain_seconds: How long live stream calls may go on after the signal.
    """

    def __init__(self, config: uvicorn.Config, runtime: Runtime, *, drain_seconds: float) -> None:
        super().__init__(config)
        self.runtime = runtime
        self.drain_seconds = drain_seconds
        self._loop: asyncio.AbstractEventLoop | None = None
        self._drain_requested = False
        self._drain: asyncio.Task[None] | None = None

    async def serve(self, sockets: list[socket.socket] | None = None) -> None:
        """Serve, remembering the loop, which the signal handler hands the drain to."""
        self._loop = asyncio.get_running_loop()
        await super().serve(sockets)

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        """First signal once started: drain, then stop. Before start, or a second one: stop now."""
        loop = self._loop
        if loop is None or not self.started or self.should_exit:
            super().handle_exit(sig, frame)
            return
        if not self._drain_requested:
            self._drain_requested = True
            _log.info("signal %s: draining before stopping (send it again to stop at once)", sig)
            loop.call_soon_threadsafe(self._start_drain)
            return
        _log.warning("signal %s again: stopping without waiting for live calls", sig)
        loop.call_soon_threadsafe(self._stop_now)

    def _start_drain(self) -> None:
        self._drain = asyncio.get_running_loop().create_task(self._drain_then_stop())

    def _stop_now(self) -> None:
        if self._drain is not None:
            self._drain.cancel()
        self.should_exit = True

    async def _drain_then_stop(self) -> None:
        try:
            await self.runtime.drain(self.drain_seconds)
        except Exception:
            _log.exception("draining failed; stopping")
        finally:
            self.should_exit = True


def serve(app: Litestar, *, log_level: str = "info") -> None:
    """Serve ``app`` (from :func:`telephony.create_app`) until a signal, draining first.

    Uvicorn's settings come from the app's config: ``serve.bind``, ``serve.port``, the frame size
    cap, and a graceful-shutdown bound long enough for a webhook's turn to finish.
    """
    runtime: Runtime = app.state.runtime
    config = runtime.config
    settings = uvicorn.Config(
        app,
        log_level=log_level,
        log_config=None,
        # After the drain: a turn in flight may finish; a stuck handler is cancelled after this.
        timeout_graceful_shutdown=config.response_timeout_ms // 1000 + 2,
        **server_limits(config),
    )
    DrainingServer(settings, runtime, drain_seconds=config.serve.drain_timeout_ms / 1000).run()
