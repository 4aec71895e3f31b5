"""A stream call whose media stream never starts goes on in markup mode instead of in silence.

A tunnel or proxy that passes the webhook path but not the stream path, or a firewall in front
of WebSockets, leaves a stream call answered and silent: the carrier was told to open a stream
that never reaches us. So ``streaming.startTimeoutMs`` after the answer, a stream call whose
stream has not started is moved to markup mode: its record's media becomes ``markup`` and the
carrier is given the call's opening (the greeting and a gather, or a notify call's message)
through the engine's usual delivery path for a live call, a redirect to the call's pending
actions on a markup carrier and commands on a command carrier. The conversation then goes on
through the gather turns of markup mode.

Exactly once per call, on one instance of those sharing the store: the move holds the call's
stream lease, as a stream session and the lost-stream sweep do, and then the call's lock, and
looks again under them. A stream that started holds the lease (or has written its opening line),
so it is never moved; a stream that arrives after the move finds the call in markup mode and is
refused. If the move itself fails (the carrier's API refuses it), the call is left as it was
and the lost-stream sweep hangs it up, as it did before there was a fallback.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from telephony.providers import failure_cause

from .liveness import StreamLease
from .store import CallRecord

if TYPE_CHECKING:
    from .engine import ConversationEngine

__all__ = ["StreamFallback", "never_started"]

_log = logging.getLogger("telephony.engine")


def never_started(record: CallRecord) -> bool:
    """Whether a live, answered stream call's stream has not started.

    A stream writes the call's opening line to the transcript as it starts: no line, no stream.
    """
    return (
        record.media == "stream"
        and not record.terminal
        and record.answered_at is not None
        and not record.transcript
    )


class StreamFallback:
    """Moves stream calls whose stream never started to markup mode (see the module docstring).

    Args:
        engine: Whose lock, store and delivery path the move uses.
    """

    def __init__(self, engine: ConversationEngine) -> None:
        self.engine = engine
        self._moving: set[str] = set()

    def moving(self, call_id: str) -> bool:
        """Whether this process is moving the call now (the lost-stream sweep leaves it alone)."""
        return call_id in self._moving

    @property
    def wait_seconds(self) -> float | None:
        """How long after its answer a call's stream may take to start; None: no fallback."""
        milliseconds = self.engine.config.streaming.start_timeout_ms
        return milliseconds / 1000 if milliseconds > 0 else None

    async def move(self, call_id: str) -> bool:
        """Move the call to markup mode if its stream has not started; whether it was moved."""
        engine = self.engine
        self._moving.add(call_id)  # before any await: the timer that called this no longer counts
        try:
            lease = StreamLease(engine.store, call_id, engine.config.streaming.lease_ms / 1000)
            if not await lease.acquire():
                return False  # its stream is live on some instance, or a sweep is ending the call
            try:
                async with engine.call_lock(call_id):
                    record = await engine.live_call(call_id)
                    if record is None or not never_started(record) or engine.has_stream(call_id):
                        return False  # it started, ended or was moved meanwhile
                    return await self._move(record)
            finally:
                await lease.release()
        finally:
            self._moving.discard(call_id)

    async def _move(self, record: CallRecord) -> bool:
        engine = self.engine
        before = await engine.get_call(record.call_id)
        _log.warning(
            "call %s: its media stream did not start within %g s of the answer; going on in markup "
            "mode (check that the stream path %s is reachable through your tunnel or proxy)",
            record.call_id,
            self.wait_seconds or 0,
            engine.routes.stream_path,
        )
        record.media = "markup"
        try:
            await engine.deliver(
                record, engine.opening_actions(record, record.answered_by), starts_listening=True
            )
        except Exception as exc:
            # The carrier never got the opening: the call stays as it was, for the lost-stream sweep.
            engine.stop_listening(record.call_id)
            await engine.store.save(before)
            _log.warning(
                "call %s: moving it to markup mode failed (%s); it will be hung up as a stream that "
                "never connected",
                record.call_id,
                failure_cause(exc),
            )
            return False
        return True
