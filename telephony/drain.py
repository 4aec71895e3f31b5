"""Stopping without cutting calls off: the drain that runs before a server stops.

A markup call lives in the store between webhooks, so any instance can answer its next one; a
stream call lives in one process's media socket, and uvicorn's own shutdown closes every socket
at once, which ends those calls mid-sentence. So on the first SIGTERM (or Ctrl-C) the server
first *drains*: it refuses new calls (busy; ``/health`` answers 503 so a load balancer moves on)
while it keeps serving webhooks and the streams it has, waits for those streams to end for up to
``serve.drainTimeoutMs``, says a short goodbye on the ones still live and hangs them up, and only
then stops as uvicorn does (:func:`telephony.serve`). A second signal skips what is
left of the drain.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Final

import anyio

from .engine import SHUTDOWN

if TYPE_CHECKING:
    from .engine import ConversationEngine

__all__ = ["GOODBYE_SECONDS", "drain_streams"]

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
