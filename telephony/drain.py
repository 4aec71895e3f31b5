"""Stopping without cutting calls off: drain first, then stop (what ``telephony serve`` does on SIGTERM).

A markup call lives in the store between webhooks, so any instance can answer its next one; a
stream call lives in one process's media socket, and uvicorn's own shutdown closes every socket
at once, which ends those calls mid-sentence. So on the first SIGTERM (or Ctrl-C) the server
first *drains*: it refuses new calls (busy; ``/health`` answers 503 so a load balancer moves on)
while it keeps serving webhooks and the streams it has, waits for those streams to end for up to
``serve.drainTimeoutMs``, says a short goodbye on the ones still live and hangs them up, and only
then stops as uvicorn does. A second signal skips what is left of the drain.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from types import FrameType
from typing import TYPE_CHECKING, Final

import anyio
import uvicorn

from .engine import SHUTDOWN

if TYPE_CHECKING:
    from litestar import Litestar

    from .engine import ConversationEngine
    from .runtime import Runtime

__all__ = ["GOODBYE_SECONDS", "DrainingServer", "drain_streams", "serve"]

_log = logging.getLogger("telephony")

GOODBYE_SECONDS: Final = 15.0
"""How long the goodbye of a call still live when the drain time is up may take to be heard."""

_POLL_SECONDS: Final = 0.1


async def _until_no_streams(engine: ConversationEngine, seconds: float) -> None:
    with anyio.move_on_after(seconds):
        while engine.live_streams():
            await anyio.sleep(_POLL_SECONDS)


async def drain_streams(engine: ConversationEngine, seconds: float) -> None:
    """Refuse new calls, let live stream calls end for ``seconds``, then end the rest politely.

    Each call still live after ``seconds`` hears a goodbye and is hung up once it has been
    heard (state ``hangup-bot``, end reason ``shutdown``); one whose goodbye is not heard within
    :data:`GOODBYE_SECONDS` is hung up anyway, with the same end reason. Markup calls are left
    alone: they need no process of their own.
    """
    engine.draining = True
    live = engine.live_streams()
    _log.info(
        "stopping: new calls are refused; waiting up to %.0f s for %s stream call(s)", seconds, len(live)
    )
    await _until_no_streams(engine, seconds)
    left = engine.live_streams()
    if not left:
        return
    _log.warning("stopping: saying goodbye on %s stream call(s) still live", len(left))
    for call_id in left:
        try:
            await engine.say_goodbye(call_id, reason=SHUTDOWN)
        except Exception:  # one call's failure must not keep the others from ending
            _log.exception("call %s: the goodbye could not be said", call_id)
    await _until_no_streams(engine, GOODBYE_SECONDS)
    for call_id in engine.live_streams():
        _log.warning("call %s: the goodbye was not heard in time; hanging up", call_id)
        await engine.end_call(call_id, reason=SHUTDOWN, force=True)


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
    from .server import server_limits

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
