"""The conversation engine: call events in, provider-neutral actions out.

Every user turn, whatever its source (a gather result, a carrier transcription or a stream
STT final), goes through :meth:`ConversationEngine.on_user_turn`, so no transcript can be
dropped on one path while another answers it.
"""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import TYPE_CHECKING, Any, Literal, Protocol

import anyio
from anyio.abc import TaskGroup

from telephony.providers import (
    Action,
    Agent,
    AgentReply,
    AgentRequest,
    Answer,
    CallAnswered,
    CallControlError,
    CallEnded,
    CallEvent,
    CallIdentity,
    CallInitiated,
    CallRef,
    CallRinging,
    CallStarted,
    Carrier,
    ConnectStream,
    DialCallbacks,
    Gather,
    Hangup,
    InstructionsRequested,
    NoInput,
    PlaybackFinished,
    RecordingReady,
    Reject,
    ReplyContext,
    Say,
    TelephonyError,
    Turn,
    UserInput,
    WebhookReply,
    failure_cause,
)

from .bus import ControlBus, ControlFailed, ControlReply, ControlRequest, LocalControlBus
from .call_locks import CallLocks
from .held_turns import THINKING_MARGIN_SECONDS, HeldTurns
from .lines import AGENT_FALLBACK, DEFAULT_GREETING, NO_INPUT_GOODBYE, REPROMPT, SHUTDOWN_GOODBYE
from .liveness import StreamReconciler
from .observability import Metrics, bind_call, call_context
from .policy import inbound_allowed
from .routes import Routes
from .states import CallState, is_terminal, next_state
from .store import CallRecord, CallStore, StoreHealth, StoreUnavailable
from .stream_fallback import StreamFallback, never_started

if TYPE_CHECKING:
    from .config import Config

__all__ = [
    "BOT_ENDINGS",
    "SHUTDOWN",
    "STREAM_TOKEN_TTL",
    "WEBHOOK_MARGIN_SECONDS",
    "CallLimitReached",
    "CallNotFound",
    "CallNotLive",
    "ConversationEngine",
    "Draining",
    "LiveStream",
    "Media",
    "Mode",
]

_log = logging.getLogger("telephony.engine")

STREAM_TOKEN_TTL = 120.0
WEBHOOK_MARGIN_SECONDS = 3.0  # what answering a turn takes besides the agent: store, render, network
BOT_ENDINGS = frozenset({"hangup-bot", "voicemail"})  # states in which we ended the call
SHUTDOWN = "shutdown"
"""End reason of a call ended because the server was stopping (the drain's goodbye); state ``hangup-bot``."""


_Answered = tuple[WebhookReply | None, bool]
"""A webhook's answer (None: a plain acknowledgement) and whether it is stored already."""

Mode = Literal["conversation", "notify"]
Media = Literal["markup", "stream"]


class CallLimitReached(TelephonyError):
    """Too many calls in one direction are active (``maxConcurrentCalls``)."""


class CallNotFound(TelephonyError):
    """No call with that id is known to the store."""


class CallNotLive(TelephonyError):
    """The call has ended, so it cannot be spoken on any more."""


class Draining(TelephonyError):
    """The server is stopping: it finishes the calls it has and takes no new ones."""


class LiveStream(Protocol):
    """What the engine needs from an attached media stream."""

    async def speak(self, text: str, *, hang_up_after: bool = False) -> None:
        """Queue ``text`` for playback; hang up once heard when asked."""
        ...

    async def close(self) -> None:
        """Stop the stream (the call ended elsewhere)."""
        ...


def _speaking_seconds(lines: tuple[str, ...]) -> float:
    """About how long a prompt takes to say (150 words a minute), before the caller's turn starts."""
    return sum(len(line.split()) for line in lines) * 0.4


def _spoken(action: Action) -> tuple[Say, ...]:
    """The lines an action speaks: a ``Say``, or a gather's prompt."""
    if isinstance(action, Say):
        return (action,)
    if isinstance(action, Gather):
        return tuple(item for item in action.prompt if isinstance(item, Say))
    return ()


def _cancel(table: dict[str, anyio.CancelScope], call_id: str) -> None:
    """Cancel and forget the call's timer in ``table``, if it has one."""
    scope = table.pop(call_id, None)
    if scope is not None:
        scope.cancel()


async def _guarded(coro: Coroutine[Any, Any, object]) -> None:
    """Run one background job; its failure is logged instead of cancelling its siblings.

    A job the store failed is not: the outage is logged once, by the store's health.
    """
    try:
        await coro
    except StoreUnavailable as exc:
        _log.debug("background task skipped: %s", exc)
    except Exception:
        _log.exception("background task failed")


def _remote_error(reply: ControlReply) -> TelephonyError:
    """The error another instance's failed control action stands for, raised here as its like."""
    if reply.error == "CallControlError":
        return CallControlError(reply.message, status=reply.status)
    known: dict[str, type[TelephonyError]] = {"CallNotFound": CallNotFound, "CallNotLive": CallNotLive}
    if reply.error in known:
        return known[reply.error](reply.message)
    return TelephonyError(reply.message) if reply.error else ControlFailed(reply.message)


def _log_text(text: str) -> str:
    """Transcripts in logs are capped (long lines hide the rest), and logged at DEBUG only: personal data."""
    return text if len(text) <= 80 else text[:77] + "..."


class ConversationEngine:
    """Runs calls: answers webhooks, places calls, and routes user turns to the agent.

    Args:
        bus: Reaches the instance holding a call's media stream when it is not this one;
            one process needs none (the default reaches only itself).
    """

    def __init__(
        self,
        *,
        config: Config,
        carrier: Carrier,
        store: CallStore,
        agent: Agent,
        routes: Routes,
        clock: Callable[[], float] = time.time,
        metrics: Metrics | None = None,
        bus: ControlBus | None = None,
        store_health: StoreHealth | None = None,
    ) -> None:
        self.config = config
        self.store_health = store_health or StoreHealth()
        """Whether the store answers; sweeps wait while it is away and just after it came back."""
        self.metrics = metrics or Metrics()
        self.carrier = carrier
        self.store = store
        self.agent = agent
        self.routes = routes
        self._clock = clock
        self.bus: ControlBus = bus or LocalControlBus()
        self._locks = CallLocks(store, lease_seconds=config.webhook_lease_ms / 1000)
        self._timers: dict[str, anyio.CancelScope] = {}
        self._listening: dict[str, anyio.CancelScope] = {}
        self._starting: dict[str, anyio.CancelScope] = {}  # stream calls waiting for their stream
        self._group: TaskGroup | None = None
        self._streams: dict[str, LiveStream] = {}
        self.held = HeldTurns(self)
        self.fallback = StreamFallback(self)
        self._closing = False
        self.draining = False
        """Set when the server starts stopping: new calls are refused, live ones go on."""

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        """Re-arm max-duration timers of calls that were live before a restart; start the reaper."""
        for record in await self.store.list_calls(active_only=True, limit=10_000):
            if record.answered_at is not None:
                self._arm_timer(record)
            if never_started(record):
                self._await_stream(record)
        reaper_seconds = self.config.stale_call_reaper_seconds
        if reaper_seconds > 0:
            every = min(30.0, float(reaper_seconds))
            self.spawn(self._repeat(self.reap_stale_calls, every, "stale-call sweep", at_start=False))
        if self.routes.stream_path is not None:
            reconciler = self.stream_reconciler()
            self.spawn(self._repeat(reconciler.sweep, reconciler.lease_seconds, "lost-stream sweep"))
        if self.carrier.capabilities.commands:
            # A markup carrier comes back for a reply whose process died (it is redirected to
            # fetch it); a command carrier waits for commands that will never come.
            every = THINKING_MARGIN_SECONDS
            self.spawn(self._repeat(self.held.recover_lost_turns, every, "lost-turn sweep"))

    def stream_reconciler(self) -> StreamReconciler:
        """The sweep that ends stream calls whose stream died with its process, or never came."""
        streaming = self.config.streaming
        lease = streaming.lease_ms / 1000
        return StreamReconciler(
            self,
            lease_seconds=lease,
            # A fresh call's stream connects within the start-message wait and a lease's margin;
            # one whose stream never starts is first moved to markup mode (startTimeoutMs).
            grace_seconds=max(streaming.pre_start_timeout_ms, streaming.start_timeout_ms) / 1000 + lease,
            clock=self._clock,
        )

    async def reap_stale_calls(self) -> list[str]:
        """End calls still "live" ``staleCallReaperSeconds`` after they began.

        A carrier whose final status callback never arrives would otherwise leave a call
        holding a ``maxConcurrentCalls`` slot forever.
        """
        cutoff = self._clock() - self.config.stale_call_reaper_seconds
        reaped = []
        for record in await self.store.list_calls(active_only=True, limit=10_000):
            if record.created_at < cutoff:
                with call_context(record.call_id, record.provider):
                    _log.info("call %s: stale (state %s); ending it", record.call_id, record.state)
                    await self.end_call(record.call_id, reason="timeout", force=True)
                reaped.append(record.call_id)
        return reaped

    async def _repeat(
        self, sweep: Callable[[], Awaitable[object]], every: float, what: str, *, at_start: bool = True
    ) -> None:
        """Run ``sweep`` every ``every`` seconds (first at once, unless not ``at_start``) while running.

        A failed pass (a store or carrier hiccup) is logged, and the next one runs as planned.
        """
        if not at_start:
            await anyio.sleep(every)
        while not self._closing:
            try:
                await sweep()
            except StoreUnavailable as exc:  # the outage is logged once, by the store's health
                _log.debug("%s skipped: %s", what, exc)
            except Exception:
                _log.exception("%s failed", what)
            await anyio.sleep(every)

    @asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        """Run the engine: every timer and background task lives in one task group it owns.

        Leaving the block cancels them all and waits until they are gone, so no task outlives
        the engine. Live calls are not hung up: a restart must not end them.
        """
        async with anyio.create_task_group() as group:
            self._group = group
            try:
                await group.start(self.bus.serve, self._on_control)
                await self.start()
                yield
            finally:
                await self.aclose()  # cancels the group's scope too
        self._group = None

    async def aclose(self) -> None:
        """Stop timers and close streams without hanging up: a restart must not end live calls."""
        self._closing = True
        for scope in [*self._timers.values(), *self._listening.values(), *self._starting.values()]:
            scope.cancel()
        self._timers.clear()
        self._listening.clear()
        self._starting.clear()
        if self._group is not None:
            self._group.cancel_scope.cancel()
        for stream in list(self._streams.values()):
            await stream.close()

    # ------------------------------------------------------------------ helpers

    def _ref(self, record: CallRecord) -> CallRef:
        return CallRef(
            call_id=record.call_id,
            provider_call_id=record.provider_call_id,
            from_number=record.from_number,
            to_number=record.to_number,
        )

    def _gather(self, record: CallRecord, *prompt: str) -> Gather:
        """A gather whose callback URL names its turn.

        Webhooks are deduplicated by URL and body, and two turns can carry the same body (the
        same words, or silence twice); the turn number keeps them apart, while a carrier retry
        of one turn still matches.
        """
        record.gather_turn += 1
        if not self.carrier.capabilities.reports_silence:
            self.listen(record.call_id, turn=record.gather_turn, extra_seconds=_speaking_seconds(prompt))
        return self._listen(record, prompt)

    def _listen(self, record: CallRecord, prompt: tuple[str, ...]) -> Gather:
        """The gather of the record's current turn (built again, unchanged, for a stale result)."""
        turn = record.gather_turn
        return Gather(
            action_url=self.routes.webhook_url(kind="gather", call_id=record.call_id, turn=turn),
            callback=CallIdentity(call_id=record.call_id, kind="gather", turn=turn),
            prompt=tuple(self.say(text) for text in prompt if text),
            timeout_seconds=self.config.gather_timeout_seconds,
            language=self.config.language,
        )

    def say(self, text: str) -> Say:
        """``text`` as the carrier should speak it (in the configured language)."""
        return Say(text=text, language=self.config.language)

    def listen_again(self, record: CallRecord) -> Gather:
        """The gather of the call's current turn again, with no prompt: keep listening."""
        return self._listen(record, ())

    def now(self) -> float:
        """Wall-clock seconds, as stored in records (the engine's clock, which tests move)."""
        return self._clock()

    @property
    def is_running(self) -> bool:
        """Whether the engine's task group is up (between start and shutdown)."""
        return self._group is not None and not self._closing

    def call_lock(self, call_id: str) -> AbstractAsyncContextManager[None]:
        """The call's lock: one handler at a time per call (across instances on a shared store)."""
        return self._locks[call_id]

    def _transition(self, record: CallRecord, target: str) -> None:
        """Move the call's state (in memory: the entry point that holds the lock saves once)."""
        record.state = next_state(record.state, target, call_id=record.call_id)
        if is_terminal(record.state):
            if record.ended_at is None:
                record.ended_at = self._clock()
                record.end_reason = record.end_reason or record.state
            self._disarm_timer(record.call_id)
            _cancel(self._starting, record.call_id)

    def _add_turn(self, record: CallRecord, speaker: Literal["bot", "user"], text: str) -> None:
        """Add a transcript line (in memory, under the call's lock; saved with the rest)."""
        record.transcript.append(Turn(speaker=speaker, text=text, at=self._clock()))

    def spawn(self, coro: Coroutine[Any, Any, object]) -> None:
        """Run ``coro`` in the engine's task group; a failure is logged and stays in its task.

        Raises:
            RuntimeError: The engine is not running (see :meth:`running`).
        """
        if self._group is None:
            coro.close()
            raise RuntimeError("the engine is not running: enter Runtime.running() (or serve the app)")
        self._group.start_soon(_guarded, coro)

    def _after(self, table: dict[str, anyio.CancelScope], call_id: str, delay: float, action: Any) -> None:
        """Run ``action()`` after ``delay`` seconds unless the call's entry in ``table`` is cancelled."""
        _cancel(table, call_id)
        scope = anyio.CancelScope()
        table[call_id] = scope

        async def timer() -> None:
            with scope:
                await anyio.sleep(max(delay, 0.0))
            if scope.cancelled_caught:
                return
            if table.get(call_id) is scope:
                del table[call_id]
            with call_context(call_id, self.carrier.name):  # a timer armed at start-up knows no call
                await action()

        self.spawn(timer())

    # ------------------------------------------------------------------ timers

    def _arm_timer(self, record: CallRecord) -> None:
        if record.call_id in self._timers or record.answered_at is None:
            return
        if self._group is None:
            return  # not running (a unit test driving the engine): no timers
        remaining = record.answered_at + self.config.max_duration_seconds - self._clock()
        call_id = record.call_id
        self._after(self._timers, call_id, remaining, lambda: self._expire(call_id))

    def _disarm_timer(self, call_id: str) -> None:
        _cancel(self._timers, call_id)

    def _await_stream(self, record: CallRecord) -> None:
        """Move the stream call to markup mode if its stream has not started in time.

        See :mod:`telephony.stream_fallback`; a call whose stream started is left alone there.
        """
        wait = self.fallback.wait_seconds
        if wait is None or self._group is None or record.answered_at is None:
            return
        remaining = record.answered_at + wait - self._clock()
        call_id = record.call_id
        self._after(self._starting, call_id, remaining, lambda: self.fallback.move(call_id))

    async def _expire(self, call_id: str) -> None:
        _log.info("call %s: max duration reached", call_id)
        await self.end_call(call_id, reason="timeout", force=True)

    # ------------------------------------------------------------------ listening timer

    def listen(self, call_id: str, *, turn: int | None = None, extra_seconds: float = 0.0) -> None:
        """Start the caller's turn: if no result for it arrives in time, treat it as silence.

        Stream calls always rely on it (we do the listening); markup calls only on carriers
        that declare they never report silence, so nobody waits forever for a gather result.
        """
        timeout = self.config.gather_timeout_seconds + extra_seconds
        self._after(self._listening, call_id, timeout, lambda: self._heard_nothing(call_id, turn))

    def stop_listening(self, call_id: str) -> None:
        """Something was heard (or the call ended): cancel the listening timer."""
        _cancel(self._listening, call_id)

    async def _heard_nothing(self, call_id: str, turn: int | None) -> None:
        stream = self._streams.get(call_id)
        if stream is not None:
            line = await self.silence(call_id)
            if line is not None:
                await stream.speak(line[0], hang_up_after=line[1])
            return
        async with self._locks[call_id]:
            record = await self.live_call(call_id)
            if record is None or (turn is not None and record.gather_turn != turn):
                return  # the turn was answered, or moved on, in the meantime
            _log.info("call %s: nothing heard on turn %s", call_id, turn)
            await self.deliver(record, await self._no_input(record))

    async def deliver(
        self, record: CallRecord, actions: list[Action], *, starts_listening: bool = False
    ) -> None:
        """Act on a live markup-mode call outside any webhook.

        A command carrier is given the actions directly; a markup carrier is redirected to
        fetch them, and they wait in the store until it does, so a restart loses nothing.
        ``starts_listening``: the actions hold the call's first gather (see :class:`ReplyContext`).
        """
        if self.carrier.capabilities.commands:
            await self.store.save(record)
            context = ReplyContext(call=self._ref(record), starts_listening=starts_listening)
            await self.carrier.responder.respond(context, actions)
            return
        # Lines queued before and not fetched yet were written to the transcript: keep them, said
        # first, or the newer redirect would skip them (their gather is superseded by the new one).
        unheard = [say for action in record.pending for say in _spoken(action)]
        record.pending = [*unheard, *actions]
        url = self.pending_url(record)
        await self.store.save(record)
        await self.carrier.control.redirect(self._ref(record), url)

    def pending_url(self, record: CallRecord) -> str:
        """Where the carrier fetches the call's pending actions; numbered, so no two fetches look alike.

        Webhooks are deduplicated by URL and body, and the bodies of two fetches of one call are
        alike: without the number a second fetch would be given the first one's stored answer.
        """
        record.pending_fetches += 1
        return self.routes.webhook_url(kind="pending", call_id=record.call_id, turn=record.pending_fetches)

    # ------------------------------------------------------------------ webhooks

    async def answer(self, event: CallEvent) -> WebhookReply:
        """Apply one carrier event and give the carrier its answer.

        What the event changed is written once, and the answer is stored under the event's id,
        which marks the event done: a retry of this webhook gets the same answer and runs nothing.
        On a markup carrier both go in one transaction; a command carrier's state is written
        before its commands are sent, and the answer stored after, so a crash in between lets
        the retry send them (their command ids make that safe).
        """
        reply, stored = await self._answer_event(event)
        if reply is None:
            reply = self.carrier.responder.acknowledge()
        if not stored:
            await self.store.set_reply(event.event_id, reply.content_type, reply.body)
        return reply

    async def _answer_event(self, event: CallEvent) -> _Answered:
        if isinstance(event, InstructionsRequested) and event.call_id:
            await self.held.await_late_reply(event.call_id)
        if event.call_id:
            async with self._locks[event.call_id]:
                record = await self._find(event)
                if record is not None:
                    return await self._answer_known(record, event)
        else:
            record = await self._find(event)
            if record is not None:
                async with self._locks[record.call_id]:
                    # Found by the carrier's id before the lock was held: read it again under it.
                    return await self._answer_known(await self.store.get(record.call_id) or record, event)
        # No call of ours (``_find`` tried our id and the carrier's).
        if isinstance(event, CallStarted):
            return await self._answer_incoming(event)
        if isinstance(event, CallEnded):
            return await self._ended_unstarted(event)
        _log.info("event %s for unknown call %s ignored", type(event).__name__, event.provider_call_id)
        if not event.expects_reply:
            return None, False
        unknown = CallRef(call_id="", provider_call_id=event.provider_call_id)
        hang_up = await self.carrier.responder.respond(ReplyContext(call=unknown, event=event), [Hangup()])
        return hang_up, False

    async def _answer_known(self, record: CallRecord, event: CallEvent) -> _Answered:
        bind_call(record.call_id)  # for the rest of this webhook's lines
        if record.provider_call_id is None or (
            record.provisional_id and record.provider_call_id != event.provider_call_id
        ):
            # The first callback naming our call carries the carrier's real id: bind it.
            record.provider_call_id = event.provider_call_id
            record.provisional_id = False
        if record.terminal and event.expects_reply:
            # The call is over here: answer with a hang-up and run nothing (no agent turn).
            _log.info("call %s: %s after the call ended", record.call_id, type(event).__name__)
            if isinstance(event, CallStarted) and event.direction == "inbound" and record.answered_at is None:
                # It ended before we answered it (its end callback came first): refuse it unanswered.
                return await self._commit(record, event, [Reject()], must_answer=True)
            return await self._commit(record, event, [Hangup()])
        return await self._commit(record, event, await self._apply(record, event))

    async def _ended_unstarted(self, event: CallEnded) -> _Answered:
        """A call ended before we started it: its end callback overtook its answer webhook.

        It is recorded as ended (a tombstone found by the carrier's id), so the late answer
        webhook is refused instead of starting a live call that would hold a
        ``maxConcurrentCalls`` slot until the stale-call sweep; a copy of the callback finds it
        and changes nothing. A call we placed always has a record, so this one came in.
        """
        now = self._clock()
        record = CallRecord(
            call_id=secrets.token_hex(8),
            provider=self.carrier.name,
            provider_call_id=event.provider_call_id,
            direction="inbound",
            state=CallState(event.reason),
            media="stream" if self.routes.stream_path else "markup",
            created_at=now,
            ended_at=now,
            end_reason=event.reason,
        )
        bind_call(record.call_id)
        _log.info(
            "call %s: carrier call %s ended (%s) before its answer webhook; recorded as ended",
            record.call_id,
            event.provider_call_id,
            event.reason,
        )
        return await self._commit(record, event, [Hangup()] if event.expects_reply else None)

    async def _commit(
        self, record: CallRecord, event: CallEvent, actions: list[Action] | None, *, must_answer: bool = False
    ) -> _Answered:
        """Write the record once and give the answer, stored with it on a markup carrier."""
        if actions is None:
            await self.store.save(record)
            return None, False
        context = ReplyContext(call=self._ref(record), event=event, must_answer=must_answer)
        if self.carrier.capabilities.commands:
            await self.store.save(record)  # persist before acting
            return await self.carrier.responder.respond(context, actions), False
        reply = await self.carrier.responder.respond(context, actions)
        async with self.store.transaction() as batch:
            batch.save(record)
            batch.set_reply(event.event_id, reply.content_type, reply.body)
        return reply, True

    async def _find(self, event: CallEvent) -> CallRecord | None:
        if event.call_id:
            record = await self.store.get(event.call_id)
            if record is not None:
                if not record.provisional_id and record.provider_call_id not in (
                    None,
                    event.provider_call_id,
                ):
                    _log.warning("call %s: event for a different carrier call refused", record.call_id)
                    return None
                return record
        return await self.store.get_by_provider_id(self.carrier.name, event.provider_call_id)

    def _stale(self, record: CallRecord, event: CallEvent) -> bool:
        """A gather result for a turn that has passed (the call was redirected or re-prompted)."""
        return event.turn is not None and event.turn < record.gather_turn

    async def _apply(self, record: CallRecord, event: CallEvent) -> list[Action] | None:
        """The event's effect on the call, and the actions it answers with (None: nothing to say)."""
        actions: list[Action] | None = None
        match event:
            case UserInput() | NoInput():
                actions = await self._caller_turn(record, event)
            case InstructionsRequested() if not record.terminal:
                actions = self.held.instructions(record)
            case PlaybackFinished():
                self._playback_finished(record, event)
            case _:
                actions = await self._call_progress(record, event)
        if actions is not None:
            return actions
        return [Hangup()] if event.expects_reply and is_terminal(record.state) else None

    async def _caller_turn(self, record: CallRecord, event: UserInput | NoInput) -> list[Action] | None:
        """What the caller said or did not say; a result of a turn that has passed is dropped."""
        match event:
            case UserInput(final=True) | NoInput() if self._stale(record, event):
                _log.info("call %s: result of past turn %s dropped", record.call_id, event.turn)
                if event.expects_reply and not self.carrier.capabilities.commands and not record.terminal:
                    return [self._listen(record, ())]  # keep listening for the current turn
            case UserInput(final=True):
                self.stop_listening(record.call_id)
                return await self._user_input(record, event)
            case UserInput():
                _log.debug("call %s: partial transcript %r", record.call_id, _log_text(event.speech or ""))
            case NoInput():
                self.stop_listening(record.call_id)
                return await self._no_input(record)
        return None

    def _playback_finished(self, record: CallRecord, event: PlaybackFinished) -> None:
        """A line has been heard to its end: a prompt opens the caller's turn, a goodbye the hang-up."""
        if record.call_id in self._listening and event.turn == record.gather_turn:
            # The prompt has been heard: the caller's turn starts now, not when it was sent.
            # (A holding line names no turn: its end starts nothing.)
            self.listen(record.call_id, turn=record.gather_turn)
        elif record.terminal and record.state in BOT_ENDINGS:
            # The goodbye has been heard. Markup hangs up in order by itself; a command
            # carrier hangs up now (idempotent, so a carrier that did it already is fine).
            self.spawn(self._hang_up_at_carrier(record))
        elif record.mode == "notify":
            # Not awaited here: end_call takes this call's lock, which we hold.
            self.spawn(self.end_call(record.call_id))

    async def _call_progress(self, record: CallRecord, event: CallEvent) -> list[Action] | None:
        """The carrier's news of the call itself: started, ringing, answered, recorded, ended."""
        match event:
            case CallStarted():
                return await self._connected(record, event.answered_by)
            case CallInitiated():
                pass  # the id binding before this is all it brings
            case CallRinging():
                self._transition(record, "ringing")
            case CallAnswered():
                self._answered(record, event.answered_by)
            case RecordingReady():
                record.recordings.append(event.url)
            case CallEnded():
                await self._call_ended(record, event)
        return None

    async def _call_ended(self, record: CallRecord, event: CallEnded) -> None:
        """The carrier says the call is over: record why, and close its stream if one is open."""
        self.stop_listening(record.call_id)
        if not record.terminal:
            # A reason declared by the line that was ending the call (a goodbye) stays.
            record.end_reason = record.end_reason or event.reason
        self._transition(record, event.reason)
        stream = self._streams.pop(record.call_id, None)
        if stream is not None:
            await stream.close()

    async def _hang_up_at_carrier(self, record: CallRecord) -> None:
        try:
            await self.carrier.control.hangup(self._ref(record))
        except TelephonyError as exc:
            _log.warning("call %s: carrier hang-up after the goodbye failed (%s)", record.call_id, exc)

    def _answered(self, record: CallRecord, answered_by: str | None) -> None:
        if record.answered_at is None:
            record.answered_at = self._clock()
        if answered_by:
            record.answered_by = answered_by
        self._transition(record, "answered")
        self._arm_timer(record)

    async def _answer_incoming(self, event: CallStarted) -> _Answered:
        """A call we have no record of: an inbound call (or one placed outside the framework)."""
        cfg = self.config
        media: Media = "stream" if self.routes.stream_path else "markup"
        record = CallRecord(
            call_id=secrets.token_hex(8),
            provider=self.carrier.name,
            provider_call_id=event.provider_call_id,
            direction=event.direction,
            from_number=event.from_number,
            to_number=event.to_number,
            mode="conversation",
            media=media,
            message=cfg.inbound_greeting,
            created_at=self._clock(),
        )
        bind_call(record.call_id)
        inbound = event.direction == "inbound"
        if inbound:
            refusal = await self._screen_inbound(event)
            if refusal is not None:
                record.state = CallState.BUSY if refusal == "busy" else CallState.FAILED
                record.end_reason = "rejected"
                record.ended_at = self._clock()
                return await self._commit(record, event, [Reject(reason=refusal)], must_answer=True)
        async with self._locks[record.call_id]:
            try:
                actions = await self._connected(record, event.answered_by)
                if inbound:
                    actions = [Answer(), *actions]
                return await self._commit(record, event, actions, must_answer=inbound)
            except BaseException:
                # Nothing was answered: forget the call, so it holds no slot and the carrier's
                # retry of this webhook starts it afresh.
                self._disarm_timer(record.call_id)
                await self.store.delete(record.call_id)
                raise

    async def _screen_inbound(self, event: CallStarted) -> Literal["rejected", "busy"] | None:
        """Why an inbound call must be refused (policy: rejected; no capacity: busy), or None."""
        cfg = self.config
        if not inbound_allowed(cfg.inbound_policy, event.from_number, cfg.allow_from):
            _log.info(
                "inbound call %s rejected: inbound policy %r", event.provider_call_id, cfg.inbound_policy
            )
            return "rejected"
        if self.draining:
            _log.info("inbound call %s refused as busy: the server is stopping", event.provider_call_id)
            return "busy"
        if await self.store.count_active("inbound") >= cfg.max_concurrent_calls:
            live = [
                r.call_id for r in await self.store.list_calls(active_only=True) if r.direction == "inbound"
            ]
            _log.info(
                "inbound call %s refused as busy: maxConcurrentCalls (%d) reached, held by live call(s) %s",
                event.provider_call_id,
                cfg.max_concurrent_calls,
                ", ".join(live) or "(none left)",
            )
            return "busy"
        return None

    async def _connected(self, record: CallRecord, answered_by: str | None) -> list[Action]:
        """The carrier asks what to do now that the call is up: greet, notify or stream."""
        self._answered(record, answered_by)
        if record.media == "stream":
            token = await self.store.issue_token(record.call_id, STREAM_TOKEN_TTL)
            self._await_stream(record)
            # The credential rides in the URL's path, checked before the socket is accepted, and
            # in the start message's parameters too, for sockets that reach the bare path.
            return [
                ConnectStream(
                    url=self.routes.stream_url(record.call_id, token),
                    parameters={"token": token, "callId": record.call_id},
                )
            ]
        return self.opening_actions(record, answered_by)

    def opening_actions(self, record: CallRecord, answered_by: str | None) -> list[Action]:
        """A markup-mode call's first actions: the notify message, or the greeting and a gather.

        A stream call that never got its stream starts here too (:mod:`telephony.stream_fallback`).
        """
        if record.mode == "notify":
            text = record.message or ""
            self._add_turn(record, "bot", text)
            self._transition(record, "speaking")
            return [self.say(text), Hangup(after_playback=True)]
        greeting = self.greeting(record)
        if answered_by == "machine":
            self._add_turn(record, "bot", greeting)
            record.end_reason = "voicemail"
            self._transition(record, "voicemail")
            return [self.say(greeting), Hangup(after_playback=True)]
        self._add_turn(record, "bot", greeting)
        self._transition(record, "listening")
        return [self._gather(record, greeting)]

    def greeting(self, record: CallRecord) -> str:
        """The first line of a conversation: the outbound message, or the inbound greeting."""
        return record.message or self.config.inbound_greeting or DEFAULT_GREETING

    async def _user_input(self, record: CallRecord, event: UserInput) -> list[Action]:
        text = (event.speech or "").strip()
        if event.digits:
            text = f"{text} [keypad: {event.digits}]".strip()
        if not text:
            return await self._no_input(record)
        hold = self.held.holding_after()
        if hold is None:
            reply = await self.on_user_turn(
                record, text, confidence=event.confidence, source="gather", event_id=event.event_id
            )
            return self.reply_actions(record, reply)
        return await self.held.hold(record, event, text, hold)

    def reply_actions(self, record: CallRecord, reply: AgentReply) -> list[Action]:
        """What the caller hears for a webhook turn's reply: it, then listening (or the hang-up)."""
        if reply.end_call:
            return [self.say(reply.text), Hangup(after_playback=True)]
        return [self._gather(record, reply.text)]

    async def _no_input(self, record: CallRecord) -> list[Action]:
        text, hang_up = await self.on_silence(record)
        if hang_up:
            self._transition(record, "hangup-bot")
            return [self.say(text), Hangup(after_playback=True)]
        return [self._gather(record, text)]

    async def on_silence(self, record: CallRecord) -> tuple[str, bool]:
        """The caller said nothing for a whole turn: what to say, and whether to hang up after.

        Both modes share this, so a silent caller is re-prompted ``noInputRetries`` times and
        then told goodbye whether the carrier or we do the listening.
        """
        record.no_input_count += 1
        if record.no_input_count > self.config.no_input_retries:
            self._add_turn(record, "bot", NO_INPUT_GOODBYE)
            record.end_reason = "hangup-bot"
            return NO_INPUT_GOODBYE, True
        return REPROMPT, False

    # ------------------------------------------------------------------ the one turn path

    async def on_user_turn(
        self,
        record: CallRecord,
        text: str,
        *,
        confidence: float | None = None,
        source: str = "stream",
        event_id: str | None = None,
    ) -> AgentReply:
        """Store the caller's words, ask the agent, store and return its reply.

        The user's words are persisted before the agent is asked, so a crash mid-turn loses
        nothing the caller said. ``event_id`` names the webhook that brought them: when the
        carrier retries it after such a crash, the words are stored already and not added again.
        """
        started = time.perf_counter()
        request = await self.heard(record, text, source=source, event_id=event_id)
        reply = await self.ask(request, self.reply_deadline(source))
        self.replied(record, reply, heard=len(text), source=source, elapsed=time.perf_counter() - started)
        return reply

    async def heard(
        self, record: CallRecord, text: str, *, source: str, event_id: str | None
    ) -> AgentRequest:
        """The first half of a turn: store the caller's words; what to ask the agent."""
        record.no_input_count = 0
        if event_id is None or record.heard_event != event_id:
            self._add_turn(record, "user", text)
            record.heard_event = event_id
        self._transition(record, "listening")
        await self.store.save(record)  # the caller's words are safe before the agent is asked
        # What was said is personal data: DEBUG only. INFO tells that a turn happened.
        _log.debug("call %s: user (%s) said %r", record.call_id, source, _log_text(text))
        return AgentRequest(
            call_id=record.call_id,
            transcript=tuple(record.transcript),
            from_number=record.from_number,
            to_number=record.to_number,
            direction=record.direction,
            purpose=record.message,
        )

    async def ask(self, request: AgentRequest, deadline: float) -> AgentReply:
        """The agent's reply within ``deadline`` seconds; the fallback if it fails, stalls or is empty."""
        answered: AgentReply | None = None
        try:
            with anyio.move_on_after(deadline):
                answered = await self.agent.reply(request)
            if answered is None:
                _log.warning("call %s: no agent reply in %.1f s; using fallback", request.call_id, deadline)
        except Exception as exc:  # the caller must hear something, whatever the agent did
            _log.warning(
                "call %s: agent failed (%s); using fallback reply", request.call_id, failure_cause(exc)
            )
        reply = answered or AgentReply(text=AGENT_FALLBACK)
        if not reply.text.strip():
            reply = AgentReply(text=AGENT_FALLBACK, end_call=reply.end_call)
        return reply

    def replied(
        self, record: CallRecord, reply: AgentReply, *, heard: int, source: str, elapsed: float
    ) -> None:
        """The second half of a turn (the record loaded under the call's lock): reply, counters, state."""
        record.thinking = None
        self._add_turn(record, "bot", reply.text)
        latency_ms = round(elapsed * 1000, 1)
        record.turn_count += 1
        record.last_turn_latency_ms = latency_ms
        self.metrics.turn_latency.labels(record.provider, record.media).observe(elapsed)
        _log.debug("call %s: agent replied %r", record.call_id, _log_text(reply.text))
        _log.info(
            "call %s: turn %d (%s, %d chars heard) answered in %.0f ms (%d chars)",
            record.call_id,
            record.turn_count,
            source,
            heard,
            latency_ms,
            len(reply.text),
        )
        if reply.end_call:
            record.end_reason = "hangup-bot"
        self._transition(record, "hangup-bot" if reply.end_call and source == "gather" else "speaking")

    def reply_deadline(self, source: str) -> float:
        """Seconds the agent may take for one turn before the caller hears the fallback line.

        ``responseTimeoutMs``, and for a turn that came in a webhook (``gather``), short enough
        that the answer reaches the carrier before it gives up on the webhook; a stream turn is
        not held to that, since its caller hears a holding line meanwhile. (Neither is a webhook
        turn once its webhook was answered with the holding line: see :meth:`_think`.)
        """
        seconds = self.config.response_timeout_ms / 1000
        limit = self.carrier.capabilities.webhook_timeout_seconds
        if source == "gather" and limit is not None:
            seconds = min(seconds, max(1.0, limit - WEBHOOK_MARGIN_SECONDS))
        return seconds

    # ------------------------------------------------------------------ streams

    async def live_call(self, call_id: str) -> CallRecord | None:
        """The stored call if it is still live, else None."""
        record = await self.store.get(call_id)
        return None if record is None or record.terminal else record

    async def opening_line(self, call_id: str) -> tuple[str, bool]:
        """A stream call's first line, written to the transcript: greeting, or the notify message.

        Returns:
            The text, and whether to hang up once it has been heard (notify calls).
        """
        async with self._locks[call_id]:
            record = await self.get_call(call_id)
            notify = record.mode == "notify"
            text = (record.message or "") if notify else self.greeting(record)
            self._add_turn(record, "bot", text)
            await self.store.save(record)
            return text, notify

    async def silence(self, call_id: str) -> tuple[str, bool] | None:
        """A stream caller said nothing for a turn: :meth:`on_silence`, or None if the call ended."""
        async with self._locks[call_id]:
            record = await self.live_call(call_id)
            if record is None:
                return None
            line = await self.on_silence(record)
            await self.store.save(record)
            return line

    async def user_turn(
        self, call_id: str, text: str, *, confidence: float | None = None, turn_id: str | None = None
    ) -> AgentReply | None:
        """A stream caller's final words: :meth:`on_user_turn`, or None if the call ended.

        ``turn_id`` names the turn, so a turn tried again (the store failed it part way) stores
        the caller's words once.
        """
        async with self._locks[call_id]:
            record = await self.live_call(call_id)
            if record is None:
                return None
            reply = await self.on_user_turn(
                record, text, confidence=confidence, source="stream", event_id=turn_id
            )
            await self.store.save(record)
            return reply

    async def trim_bot_turn(self, call_id: str, text: str, fraction: float) -> None:
        """The caller barged in: keep only the part of the bot's line ``text`` that was heard."""
        async with self._locks[call_id]:
            record = await self.store.get(call_id)
            if record is None:
                return
            for index in range(len(record.transcript) - 1, -1, -1):
                turn = record.transcript[index]
                if turn.speaker == "bot" and turn.text == text:
                    words = text.split()
                    kept = " ".join(words[: int(len(words) * fraction)])
                    record.transcript[index] = Turn(
                        speaker="bot", text=f"{kept}…" if kept else "…", at=turn.at
                    )
                    record.barge_ins += 1
                    await self.store.save(record)
                    return

    def has_stream(self, call_id: str) -> bool:
        """Whether the call's media stream is live in this process."""
        return call_id in self._streams

    def awaiting_stream(self, call_id: str) -> bool:
        """Whether this process waits for the call's stream to start, or is moving it to markup mode."""
        return call_id in self._starting or self.fallback.moving(call_id)

    def live_streams(self) -> list[str]:
        """The calls whose media stream is live in this process."""
        return list(self._streams)

    async def say_goodbye(
        self, call_id: str, text: str = SHUTDOWN_GOODBYE, *, reason: str = SHUTDOWN
    ) -> None:
        """Tell a stream caller the call must end, and hang up once it has been heard.

        ``reason`` is recorded as the call's end reason when the hang-up after the goodbye comes.
        """
        stream = self._streams.get(call_id)
        if stream is None:
            return
        async with self._locks[call_id]:
            record = await self.live_call(call_id)
            if record is None:
                return
            self._add_turn(record, "bot", text)
            record.end_reason = reason
            self._transition(record, "speaking")
            await self.store.save(record)
        await stream.speak(text, hang_up_after=True)

    def attach_stream(self, call_id: str, stream: LiveStream) -> None:
        """Route ``speak`` and ``end`` for ``call_id`` to its live media stream."""
        self._streams[call_id] = stream
        _cancel(self._starting, call_id)  # it started: nothing to fall back from

    def detach_stream(self, call_id: str, stream: LiveStream) -> None:
        """Forget ``stream`` (only if it is still the one attached to the call)."""
        if self._streams.get(call_id) is stream:
            del self._streams[call_id]

    async def stream_ended(self, call_id: str) -> None:
        """A call's media stream is gone: end the call at the carrier and here, if still live."""
        if self._closing:
            return
        record = await self.store.get(call_id)
        if record is None or record.terminal:
            return
        _log.info("call %s: media stream ended; ending the call", call_id)
        await self.end_call(call_id, reason="completed", force=True)

    # ------------------------------------------------------------------ control API

    async def place_call(
        self, *, to: str, message: str | None = None, mode: Mode | None = None, media: Media | None = None
    ) -> CallRecord:
        """Dial ``to``; ``notify`` says ``message`` and hangs up, ``conversation`` talks."""
        cfg = self.config
        if not cfg.from_number:
            raise TelephonyError("fromNumber is not configured, so outbound calls cannot be placed")
        mode = mode or cfg.outbound.default_mode
        if mode == "notify" and not message:
            raise TelephonyError("a notify call needs a message")
        if media == "stream" and self.routes.stream_path is None:
            raise TelephonyError("stream media needs streaming.enabled")
        if self.draining:
            raise Draining("the server is stopping and places no new calls; use another instance")
        if await self.store.count_active("outbound") >= cfg.max_concurrent_calls:
            raise CallLimitReached(
                f"maxConcurrentCalls ({cfg.max_concurrent_calls}) outbound calls are active"
            )
        record = CallRecord(
            call_id=secrets.token_hex(8),
            provider=self.carrier.name,
            direction="outbound",
            from_number=cfg.from_number,
            to_number=to,
            mode=mode,
            media=media or ("stream" if self.routes.stream_path else "markup"),
            message=message,
            created_at=self._clock(),
        )
        await self.store.create(record)
        callbacks = DialCallbacks(
            answer_url=self.routes.webhook_url(kind="answer", call_id=record.call_id),
            status_url=self.routes.webhook_url(kind="status", call_id=record.call_id),
            identity=CallIdentity(call_id=record.call_id, kind="answer"),
            ring_timeout_seconds=cfg.ring_timeout_ms / 1000,
            time_limit_seconds=cfg.max_duration_seconds,
        )
        try:
            placed = await self.carrier.control.place_call(self._ref(record), callbacks)
        except Exception:
            record.end_reason = "failed"
            self._transition(record, "failed")
            await self.store.save(record)
            raise
        async with self._locks[record.call_id]:
            # A callback may already have arrived and bound the real id; keep what it bound.
            current = await self.store.get(record.call_id) or record
            if current.provider_call_id is None:
                current.provider_call_id = placed.provider_call_id
                current.provisional_id = placed.provisional
                await self.store.save(current)
        return current

    async def get_call(self, call_id: str) -> CallRecord:
        """The stored call; raises :class:`CallNotFound` for an unknown id."""
        record = await self.store.get(call_id)
        if record is None:
            raise CallNotFound(f"no call {call_id!r}")
        return record

    async def speak(self, call_id: str, text: str) -> CallRecord:
        """Say ``text`` on a live call, then keep listening.

        A stream call speaks through its socket, on whichever instance holds it. A command
        carrier is given the new actions directly; a markup carrier is redirected to fetch them,
        and they wait in the store until it does, so a restart in between loses nothing.
        """
        if await self._forwarded(ControlRequest(op="speak", call_id=call_id, text=text)):
            return await self.get_call(call_id)
        return await self._speak_here(call_id, text)

    async def _speak_here(self, call_id: str, text: str) -> CallRecord:
        async with self._locks[call_id]:
            record = await self.get_call(call_id)
            if record.terminal:
                raise CallNotLive(f"call {call_id} has ended ({record.state})")
            stream = self._streams.get(call_id)
            before = await self.get_call(call_id)
            self._add_turn(record, "bot", text)
            self._transition(record, "speaking")
            if stream is None:
                try:
                    await self.deliver(record, [self._gather(record, text)])
                except BaseException:
                    # The carrier never got the line: put the call back as it was, so the
                    # transcript holds nothing the caller did not hear.
                    self.stop_listening(call_id)
                    await self.store.save(before)
                    raise
            else:
                await self.store.save(record)
        if stream is not None:
            await stream.speak(text)
        return record

    async def end_call(
        self, call_id: str, *, reason: str | None = None, force: bool = False, state: str | None = None
    ) -> CallRecord:
        """Hang up (idempotent: ending an ended call is not an error).

        Args:
            call_id: The call to end.
            reason: The end reason to record; None: the one the call's closing line declared
                (an agent's ``hangup-bot``, the drain goodbye's ``shutdown``), else ``hangup-bot``.
            force: End the call here even if the carrier refuses the hang-up (timers and
                stream teardown use this, so a carrier error cannot keep a call live forever).
            state: The terminal state to record; by default ``reason`` itself when it is a
                terminal state, else ``hangup-bot``.
        """
        request = ControlRequest(op="end", call_id=call_id, reason=reason or "hangup-bot", force=force)
        if await self._forwarded(request):
            self.stop_listening(call_id)
            return await self.get_call(call_id)
        return await self._end_here(call_id, reason=reason, force=force, state=state)

    async def _end_here(
        self, call_id: str, *, reason: str | None, force: bool, state: str | None = None
    ) -> CallRecord:
        self.stop_listening(call_id)
        record = await self.get_call(call_id)
        if record.terminal:
            return record
        if record.provider_call_id:
            try:
                await self.carrier.control.hangup(self._ref(record))
            except TelephonyError as exc:
                if not force:
                    raise
                _log.warning("call %s: carrier hang-up failed (%s); ending it here anyway", call_id, exc)
        async with self._locks[call_id]:
            record = await self.get_call(call_id)
            record.end_reason = reason or record.end_reason or "hangup-bot"
            ending = record.end_reason if is_terminal(record.end_reason) else "hangup-bot"
            self._transition(record, state or ending)
            await self.store.save(record)
        stream = self._streams.pop(call_id, None)
        if stream is not None:
            await stream.close()
        return record

    # ------------------------------------------------------------------ other instances

    async def _forwarded(self, request: ControlRequest) -> bool:
        """Whether the instance holding the call's stream, another one, acted on ``request``.

        Only a live stream call whose stream is not attached here is asked about. When no
        instance holds its stream, the caller acts here, as a single process would.
        """
        if request.call_id in self._streams:
            return False
        record = await self.store.get(request.call_id)
        if record is None or record.terminal or record.media != "stream":
            return False
        reply = await self.bus.request(request)
        if reply.outcome == "failed":
            raise _remote_error(reply)
        return reply.outcome == "done"

    async def _on_control(self, request: ControlRequest) -> bool:
        """Act on a request from another instance if this one holds the call's stream."""
        if request.call_id not in self._streams:
            return False
        if request.op == "speak":
            await self._speak_here(request.call_id, request.text)
        else:
            await self._end_here(request.call_id, reason=request.reason, force=request.force)
        return True
