"""Webhook turns whose agent is slow: the holding line now, the reply when it comes.

A webhook turn waits ``holdingLineAfterMs`` for the agent. If the reply is late, the webhook is
answered with the holding line and the turn goes on without it: the agent's task stores the
reply as the call's pending actions (a markup carrier was redirected to fetch them) or sends it
(a command carrier). The turn in flight is noted in the record, so a fetch that arrives first
waits for it, and a turn whose process died is answered with the fallback line: by the fetch on
a markup carrier, by a sweep on every instance on a command carrier (which never comes back).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Final

import anyio

from telephony.providers import Action, AgentReply, AgentRequest, Pause, Redirect, UserInput

from .lines import AGENT_FALLBACK, HOLDING_LINE
from .observability import call_context
from .store import CallRecord, Thinking

if TYPE_CHECKING:
    from .engine import ConversationEngine

__all__ = ["HeldTurns"]

_log = logging.getLogger("telephony.engine")

THINKING_MARGIN_SECONDS: Final = 3.0  # beyond responseTimeoutMs: a turn still in flight lost its process
THINKING_POLL_SECONDS: Final = 0.1  # how often a fetch waiting for a reply looks in the store
STILL_THINKING_PAUSE_SECONDS: Final = 1  # quiet played by a fetch that outwaited the carrier


@dataclass
class _Thought:
    """One agent reply being worked on for a webhook turn, shared by the webhook and the agent's task.

    Whichever of the two looks at it first decides, with no await in between: the webhook takes a
    reply that is there, or hands the turn off, and the task then finishes the turn itself.
    """

    answered: anyio.Event = field(default_factory=anyio.Event)
    reply: AgentReply | None = None
    handed_off: bool = False


class HeldTurns:
    """The engine's slow webhook turns (see the module docstring).

    Args:
        engine: The engine whose turn path (words heard, agent asked, reply recorded) it shares.
    """

    def __init__(self, engine: ConversationEngine) -> None:
        self.engine = engine
        self._replied_to: dict[str, anyio.Event] = {}  # calls whose pending fetch awaits a late reply

    def holding_after(self) -> float | None:
        """How long a webhook turn waits for the agent before the holding line; None: no holding line.

        None too when the reply (or the fallback line) is due by then anyway, the webhook's own
        deadline included, and without a running engine (nothing to run the agent in the
        background): the turn then waits for its reply, as it does with ``0``.
        """
        engine = self.engine
        seconds = engine.config.holding_line_after_ms / 1000
        if seconds <= 0 or seconds >= engine.reply_deadline("gather") or not engine.is_running:
            return None
        return seconds

    async def hold(self, record: CallRecord, event: UserInput, text: str, hold: float) -> list[Action]:
        """A webhook turn: its reply if the agent gives it within ``hold`` seconds, else the holding line."""
        engine = self.engine
        started, heard_at = time.perf_counter(), engine.now()
        request = await engine.heard(record, text, source="gather", event_id=event.event_id)
        thought = _Thought()
        engine.spawn(self._think(thought, request, event.event_id, heard=len(text), started=started))
        with anyio.move_on_after(hold):
            await thought.answered.wait()
        if thought.reply is not None:  # in time: one answer, as without a holding line
            elapsed = time.perf_counter() - started
            engine.replied(record, thought.reply, heard=len(text), source="gather", elapsed=elapsed)
            return engine.reply_actions(record, thought.reply)
        thought.handed_off = True
        record.thinking = Thinking(event_id=event.event_id, turn=record.gather_turn, started_at=heard_at)
        _log.info("call %s: no agent reply after %g s; saying the holding line", record.call_id, hold)
        if engine.carrier.capabilities.commands:
            return [engine.say(HOLDING_LINE)]  # the reply is sent as commands when it comes
        return [engine.say(HOLDING_LINE), Redirect(url=engine.pending_url(record))]

    async def _think(
        self, thought: _Thought, request: AgentRequest, event_id: str, *, heard: int, started: float
    ) -> None:
        """Ask the agent for a webhook turn; finish the turn here if its webhook stopped waiting.

        The agent has ``responseTimeoutMs``: once handed off, no webhook waits on it.
        """
        thought.reply = await self.engine.ask(request, self.engine.config.response_timeout_ms / 1000)
        thought.answered.set()
        if thought.handed_off:
            await self._reply_late(request.call_id, event_id, thought.reply, heard=heard, started=started)

    async def _reply_late(
        self, call_id: str, event_id: str, reply: AgentReply, *, heard: int, started: float
    ) -> None:
        """Finish a handed-off turn: the reply waits as the call's pending actions (or is sent)."""
        engine = self.engine
        async with engine.call_lock(call_id):
            record = await engine.live_call(call_id)
            thinking = record.thinking if record is not None else None
            if record is None or thinking is None or thinking.event_id != event_id:
                # The call ended, or the turn was given the fallback line, or a newer turn took over.
                _log.info("call %s: the agent's late reply is no longer awaited; dropped", call_id)
                return
            # The carrier is (or soon will be) at the pending URL, unless the call was given a
            # new turn meanwhile (spoken to from outside): then it must be redirected again.
            fetching = record.gather_turn == thinking.turn and not engine.carrier.capabilities.commands
            elapsed = time.perf_counter() - started
            engine.replied(record, reply, heard=heard, source="gather", elapsed=elapsed)
            actions = engine.reply_actions(record, reply)
            if fetching:
                record.pending = actions
                await engine.store.save(record)
            else:
                await engine.deliver(record, actions)
        self._wake(call_id)

    def _wake(self, call_id: str) -> None:
        """A late reply is stored: a fetch of it waiting in this process looks now, not at its next poll."""
        woken = self._replied_to.pop(call_id, None)
        if woken is not None:
            woken.set()

    def _lost(self, thinking: Thinking) -> bool:
        """Whether a turn in flight is older than any agent may take: the process asking it died."""
        age = self.engine.now() - thinking.started_at
        return age > self.engine.config.response_timeout_ms / 1000 + THINKING_MARGIN_SECONDS

    async def await_late_reply(self, call_id: str) -> None:
        """Hold the carrier's fetch of pending actions while the agent still works on them.

        The call's lock is not held meanwhile (the agent's task needs it to store the reply).
        Bounded by the carrier's patience with a webhook; a reply stored by another instance is
        seen at the next poll, one stored here at once.
        """
        woken: anyio.Event | None = None
        try:
            with anyio.move_on_after(self.engine.reply_deadline("gather")):
                while True:
                    record = await self.engine.store.get(call_id)
                    if record is None or record.pending or record.thinking is None:
                        return
                    if self._lost(record.thinking):
                        return
                    woken = self._replied_to.setdefault(call_id, anyio.Event())
                    with anyio.move_on_after(THINKING_POLL_SECONDS):
                        await woken.wait()
        finally:
            if woken is not None and self._replied_to.get(call_id) is woken:
                del self._replied_to[call_id]  # not woken (the reply came from elsewhere): forget it

    def instructions(self, record: CallRecord) -> list[Action]:
        """The answer to the carrier's fetch of the call's pending actions."""
        if record.pending:
            pending, record.pending = record.pending, []
            return pending
        thinking = record.thinking
        if thinking is None:
            return [self.engine.listen_again(record)]  # nothing queued: keep listening on this turn
        if not self._lost(thinking):
            # The agent is still at it and the carrier will not wait longer: a moment of quiet,
            # then ask again (a pause adds nothing to the transcript).
            return [
                Pause(seconds=STILL_THINKING_PAUSE_SECONDS),
                Redirect(url=self.engine.pending_url(record)),
            ]
        return self._fallback(record, thinking)

    def _fallback(self, record: CallRecord, thinking: Thinking) -> list[Action]:
        """The fallback reply to a turn whose agent died with its process; the call goes on."""
        _log.warning(
            "call %s: the turn in flight died with its process; using fallback reply", record.call_id
        )
        heard = next((turn.text for turn in reversed(record.transcript) if turn.speaker == "user"), "")
        reply = AgentReply(text=AGENT_FALLBACK)
        elapsed = self.engine.now() - thinking.started_at
        self.engine.replied(record, reply, heard=len(heard), source="gather", elapsed=elapsed)
        return self.engine.reply_actions(record, reply)

    async def recover_lost_turns(self) -> list[str]:
        """On a command carrier, answer turns whose agent died with its process (fallback line).

        Every instance sweeps; the call's lock and a second look under it keep two from both
        answering. Returns the calls answered.
        """
        engine = self.engine
        answered = []
        for listed in await engine.store.list_calls(active_only=True, limit=10_000):
            if listed.thinking is None or not self._lost(listed.thinking):
                continue
            with call_context(listed.call_id, listed.provider):
                async with engine.call_lock(listed.call_id):
                    record = await engine.live_call(listed.call_id)
                    if record is None or record.thinking is None or not self._lost(record.thinking):
                        continue
                    await engine.deliver(record, self._fallback(record, record.thinking))
                    answered.append(record.call_id)
        return answered
