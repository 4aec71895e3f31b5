"""Exactly-once webhook turns: one handler per event; every copy gets the handler's answer.

Carriers deliver a webhook again when an answer is slow or lost, and after our process died
mid-turn. An empty answer to such a copy ends a Twilio call, and running the turn twice asks the
agent twice, so neither is allowed:

- The first delivery claims the event in the store with a lease, and renews the lease while the
  turn runs. Its answer is stored under the event id, which marks the event done.
- A copy that arrives while the turn runs waits for that stored answer and returns it.
- A copy that arrives after the handler died (its lease ran out unrenewed) takes the claim over
  and runs the turn itself. The lease is short, so that wait is short.

The store is the only shared state, so this holds across processes sharing a store; copies in
the same process are woken at once rather than at the next poll.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Final

import anyio

from telephony.providers import CallEvent, TelephonyError, WebhookReply

from ..store import CallStore, ClaimOutcome
from ..store.base import new_owner
from ..store.leases import keep_claim

__all__ = ["StillRunning", "WebhookClaims"]

_log = logging.getLogger("telephony.server")

POLL_SECONDS: Final = 0.05
"""How often a waiting copy looks for the stored answer (when its handler is in another process)."""

TAKEOVER_CHECK_SECONDS: Final = 0.5
"""How often a waiting copy asks whether the handler's lease has run out."""


class StillRunning(TelephonyError):
    """A copy of a webhook waited as long as a turn may take and the original is still running.

    Answered with 503: the carrier may retry, and nothing was changed.
    """


class WebhookClaims:
    """Runs each webhook event once, however many copies arrive, and answers every copy.

    Args:
        store: Where claims, leases and answers live.
        lease_seconds: How long a claim outlives its handler's last renewal.
        wait_seconds: How long a copy waits for a running original before giving up (503).
    """

    def __init__(self, store: CallStore, *, lease_seconds: float, wait_seconds: float) -> None:
        if lease_seconds <= 0 or wait_seconds <= 0:
            raise ValueError("lease_seconds and wait_seconds must be positive")
        self.store = store
        self.lease_seconds = lease_seconds
        self.wait_seconds = wait_seconds
        self._finished: dict[str, anyio.Event] = {}

    async def handle(
        self, event: CallEvent, run: Callable[[], Awaitable[WebhookReply]]
    ) -> WebhookReply | None:
        """The answer to ``event``: ``run``'s if this copy runs it, else the stored one.

        ``run`` must store its answer under the event id (the engine does). If ``run`` fails,
        the claim is released so the carrier's retry runs the turn afresh. Returns None when
        the event is done but its answer is no longer kept (older than the retention window).

        Raises:
            StillRunning: The original is alive but took longer than ``wait_seconds``.
        """
        event_id, owner = event.event_id, new_owner()
        outcome = await self._claim(event, owner)
        if outcome is not ClaimOutcome.WON:
            _log.info("duplicate webhook %s: %s", event_id[:12], outcome.value)
        if outcome is ClaimOutcome.RUNNING:
            outcome = await self._wait(event, owner)
            if outcome is ClaimOutcome.WON:
                _log.warning("webhook %s: its handler died mid-turn; running the turn again", event_id[:12])
        if outcome is ClaimOutcome.DONE:
            return await self._stored(event_id)
        return await self._run(event_id, owner, run)

    async def _claim(self, event: CallEvent, owner: str) -> ClaimOutcome:
        return await self.store.claim_event(
            event.event_id, event.call_id, lease_seconds=self.lease_seconds, owner=owner
        )

    async def _run(
        self, event_id: str, owner: str, run: Callable[[], Awaitable[WebhookReply]]
    ) -> WebhookReply:
        finished = self._finished.setdefault(event_id, anyio.Event())
        failure: BaseException | None = None
        reply: WebhookReply | None = None
        try:
            async with anyio.create_task_group() as group:
                # Renewed until the turn ends, so only a dead handler's claim expires.
                group.start_soon(keep_claim, self.store, event_id, owner, self.lease_seconds)
                try:
                    reply = await run()
                except Exception as exc:  # re-raised below, outside the task group's wrapping
                    failure = exc
                group.cancel_scope.cancel()
            if failure is not None:
                # Unclaim, so the carrier's retry of this webhook is handled instead of waiting.
                await self.store.release_event(event_id, owner=owner)
                raise failure
        finally:
            finished.set()
            self._finished.pop(event_id, None)
        assert reply is not None
        return reply

    async def _wait(self, event: CallEvent, owner: str) -> ClaimOutcome:
        """Wait until the original is done (DONE) or dead (WON: the claim is ours now)."""
        event_id = event.event_id
        checked = anyio.current_time()
        with anyio.move_on_after(self.wait_seconds):
            while True:
                local = self._finished.get(event_id)
                if local is not None:
                    with anyio.move_on_after(TAKEOVER_CHECK_SECONDS):
                        await local.wait()
                else:
                    await anyio.sleep(POLL_SECONDS)
                if await self.store.get_reply(event_id) is not None:
                    return ClaimOutcome.DONE
                if anyio.current_time() - checked >= TAKEOVER_CHECK_SECONDS or local is not None:
                    checked = anyio.current_time()
                    outcome = await self._claim(event, owner)
                    if outcome is not ClaimOutcome.RUNNING:
                        return outcome
        _log.warning(
            "webhook %s: the original is still running after %.0f s; answering this copy 503",
            event_id[:12],
            self.wait_seconds,
        )
        raise StillRunning(f"webhook {event_id[:12]} is still being handled; retry later")

    async def _stored(self, event_id: str) -> WebhookReply | None:
        cached = await self.store.get_reply(event_id)
        if cached is None:
            return None
        return WebhookReply(content_type=cached[0], body=cached[1])
