"""The conversation engine: call events in, provider-neutral actions out.

Every user turn, whatever its source (a gather result, a carrier transcription or a stream
STT final), goes through :meth:`ConversationEngine.on_user_turn`, so no transcript can be
dropped on one path while another answers it.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections import defaultdict
from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any, Literal, Protocol

from telephony.providers import (
    Action,
    Agent,
    AgentReply,
    AgentRequest,
    CallAnswered,
    CallEnded,
    CallEvent,
    CallInitiated,
    CallRef,
    CallRinging,
    CallStarted,
    Carrier,
    ConnectStream,
    Gather,
    Hangup,
    NoInput,
    PlaybackFinished,
    RecordingReady,
    Reject,
    Say,
    TelephonyError,
    Turn,
    UserInput,
)

from .policy import inbound_allowed
from .routes import Routes
from .states import CallState, is_terminal, next_state
from .store import CallRecord, CallStore

if TYPE_CHECKING:
    from .config import Config

_log = logging.getLogger("telephony.engine")

DEFAULT_GREETING = "Hello! How can I help you today?"
REPROMPT = "Sorry, I didn't catch that. Could you say it again?"
NO_INPUT_GOODBYE = "I haven't heard anything, so I'll hang up now. Goodbye!"
AGENT_FALLBACK = "Sorry, I'm having trouble answering right now. Could you say that again?"
STREAM_TOKEN_TTL = 120.0

Mode = Literal["conversation", "notify"]
Media = Literal["markup", "stream"]


class CallLimitReached(TelephonyError):
    """Too many calls in one direction are active (``maxConcurrentCalls``)."""


class CallNotFound(TelephonyError):
    """No call with that id is known to the store."""


class LiveStream(Protocol):
    """What the engine needs from an attached media stream."""

    async def speak(self, text: str, *, hang_up_after: bool = False) -> None: ...

    async def close(self) -> None: ...


def _log_text(text: str) -> str:
    """Transcripts in logs are capped: they are personal data, and long lines hide the rest."""
    return text if len(text) <= 80 else text[:77] + "..."


class ConversationEngine:
    """Runs calls: answers webhooks, places calls, and routes user turns to the agent."""

    def __init__(
        self,
        *,
        config: Config,
        carrier: Carrier,
        store: CallStore,
        agent: Agent,
        routes: Routes,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.config = config
        self.carrier = carrier
        self.store = store
        self.agent = agent
        self.routes = routes
        self._clock = clock
        self._locks: defaultdict[str, asyncio.Lock] = defaultdict(asyncio.Lock)
        self._timers: dict[str, asyncio.TimerHandle] = {}
        self._streams: dict[str, LiveStream] = {}
        self._tasks: set[asyncio.Task[object]] = set()
        self._closing = False

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        """Re-arm max-duration timers of calls that were live before a restart; start the reaper."""
        for record in await self.store.list_calls(active_only=True, limit=10_000):
            if record.answered_at is not None:
                self._arm_timer(record)
        if self.config.stale_call_reaper_seconds > 0:
            self.spawn(self._reap_forever())

    async def reap_stale_calls(self) -> list[str]:
        """End calls still "live" ``staleCallReaperSeconds`` after they began.

        A carrier whose final status callback never arrives would otherwise leave a call
        holding a ``maxConcurrentCalls`` slot forever.
        """
        cutoff = self._clock() - self.config.stale_call_reaper_seconds
        reaped = []
        for record in await self.store.list_calls(active_only=True, limit=10_000):
            if record.created_at < cutoff:
                _log.info("call %s: stale (state %s); ending it", record.call_id, record.state)
                await self.end_call(record.call_id, reason="timeout", force=True)
                reaped.append(record.call_id)
        return reaped

    async def _reap_forever(self) -> None:
        interval = min(30.0, float(self.config.stale_call_reaper_seconds))
        while not self._closing:
            await asyncio.sleep(interval)
            try:
                await self.reap_stale_calls()
            except Exception:  # the reaper must outlive one bad sweep
                _log.exception("stale-call sweep failed")

    async def aclose(self) -> None:
        """Stop timers and close streams without hanging up: a restart must not end live calls."""
        self._closing = True
        for handle in self._timers.values():
            handle.cancel()
        self._timers.clear()
        for task in list(self._tasks):
            task.cancel()
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

    async def _gather(self, record: CallRecord, *prompt: str) -> Gather:
        """A gather whose callback URL names its turn.

        Webhooks are deduplicated by URL and body, and two turns can carry the same body (the
        same words, or silence twice); the turn number keeps them apart, while a carrier retry
        of one turn still matches.
        """
        turn = int(record.metadata.get("gatherSeq", 0)) + 1
        record.metadata["gatherSeq"] = turn
        await self.store.save(record)
        return Gather(
            action_url=self.routes.webhook_url(kind="gather", call_id=record.call_id, turn=turn),
            prompt=tuple(self._say(text) for text in prompt if text),
            timeout_seconds=self.config.gather_timeout_seconds,
            language=self.config.language,
        )

    def _say(self, text: str) -> Say:
        return Say(text=text, language=self.config.language)

    async def _transition(self, record: CallRecord, target: str) -> None:
        record.state = next_state(record.state, target, call_id=record.call_id)
        if is_terminal(record.state):
            if record.ended_at is None:
                record.ended_at = self._clock()
                record.end_reason = record.end_reason or record.state
            self._disarm_timer(record.call_id)
        await self.store.save(record)

    async def _add_turn(self, record: CallRecord, speaker: Literal["bot", "user"], text: str) -> CallRecord:
        updated = await self.store.append_turn(
            record.call_id, Turn(speaker=speaker, text=text, at=self._clock())
        )
        record.transcript = updated.transcript
        return record

    def spawn(self, coro: Coroutine[Any, Any, object]) -> None:
        """Run ``coro`` in the background, keeping a reference so it is not garbage-collected."""
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # ------------------------------------------------------------------ timers

    def _arm_timer(self, record: CallRecord) -> None:
        if record.call_id in self._timers or record.answered_at is None:
            return
        remaining = record.answered_at + self.config.max_duration_seconds - self._clock()
        loop = asyncio.get_running_loop()
        self._timers[record.call_id] = loop.call_later(
            max(remaining, 0.0), lambda: self.spawn(self._expire(record.call_id))
        )

    def _disarm_timer(self, call_id: str) -> None:
        handle = self._timers.pop(call_id, None)
        if handle is not None:
            handle.cancel()

    async def _expire(self, call_id: str) -> None:
        self._timers.pop(call_id, None)
        _log.info("call %s: max duration reached", call_id)
        await self.end_call(call_id, reason="timeout", force=True)

    # ------------------------------------------------------------------ webhooks

    async def handle_event(self, event: CallEvent) -> list[Action] | None:
        """Apply one carrier event; return the actions to answer with when the carrier asks."""
        record = await self._find(event)
        if record is None:
            if isinstance(event, CallStarted):
                return await self._incoming(event)
            _log.info("event %s for unknown call %s ignored", type(event).__name__, event.provider_call_id)
            return [Hangup()] if event.expects_reply else None
        async with self._locks[record.call_id]:
            record = await self.store.get(record.call_id) or record
            if record.provider_call_id is None:
                record.provider_call_id = event.provider_call_id
            return await self._apply(record, event)

    async def _find(self, event: CallEvent) -> CallRecord | None:
        if event.call_id:
            record = await self.store.get(event.call_id)
            if record is not None:
                if record.provider_call_id not in (None, event.provider_call_id):
                    _log.warning("call %s: event for a different carrier call refused", record.call_id)
                    return None
                return record
        return await self.store.get_by_provider_id(self.carrier.name, event.provider_call_id)

    async def _apply(self, record: CallRecord, event: CallEvent) -> list[Action] | None:
        match event:
            case CallStarted():
                return await self._connected(record, event.answered_by)
            case CallInitiated():
                await self.store.save(record)
            case CallRinging():
                await self._transition(record, "ringing")
            case CallAnswered():
                await self._answered(record, event.answered_by)
            case UserInput(final=True):
                return await self._user_input(record, event)
            case UserInput():
                _log.debug("call %s: partial transcript %r", record.call_id, _log_text(event.speech or ""))
            case NoInput():
                return await self._no_input(record)
            case PlaybackFinished():
                if record.mode == "notify":
                    # Not awaited here: end_call takes this call's lock, which we hold.
                    self.spawn(self.end_call(record.call_id))
            case RecordingReady():
                record.metadata.setdefault("recordings", []).append(event.url)
                await self.store.save(record)
            case CallEnded():
                if not record.terminal:
                    record.end_reason = event.reason
                await self._transition(record, event.reason)
                stream = self._streams.pop(record.call_id, None)
                if stream is not None:
                    await stream.close()
        return [Hangup()] if event.expects_reply and is_terminal(record.state) else None

    async def _answered(self, record: CallRecord, answered_by: str | None) -> None:
        if record.answered_at is None:
            record.answered_at = self._clock()
        if answered_by:
            record.metadata["answeredBy"] = answered_by
        await self._transition(record, "answered")
        self._arm_timer(record)

    async def _incoming(self, event: CallStarted) -> list[Action]:
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
        if event.direction == "inbound":
            refusal = await self._screen_inbound(event)
            if refusal is not None:
                record.state = CallState.BUSY if refusal == "busy" else CallState.FAILED
                record.end_reason = "rejected"
                record.ended_at = self._clock()
                await self.store.create(record)
                return [Reject(reason=refusal)]
        await self.store.create(record)
        async with self._locks[record.call_id]:
            return await self._connected(record, event.answered_by)

    async def _screen_inbound(self, event: CallStarted) -> Literal["rejected", "busy"] | None:
        """Why an inbound call must be refused (policy: rejected; no capacity: busy), or None."""
        cfg = self.config
        if not inbound_allowed(cfg.inbound_policy, event.from_number, cfg.allow_from):
            _log.info(
                "inbound call %s rejected: inbound policy %r", event.provider_call_id, cfg.inbound_policy
            )
            return "rejected"
        if await self.store.count_active("inbound") >= cfg.max_concurrent_calls:
            _log.info("inbound call %s refused as busy: maxConcurrentCalls reached", event.provider_call_id)
            return "busy"
        return None

    async def _connected(self, record: CallRecord, answered_by: str | None) -> list[Action]:
        """The carrier asks what to do now that the call is up: greet, notify or stream."""
        await self._answered(record, answered_by)
        if record.media == "stream":
            token = await self.store.issue_token(record.call_id, STREAM_TOKEN_TTL)
            return [
                ConnectStream(
                    url=self.routes.stream_url(), parameters={"token": token, "callId": record.call_id}
                )
            ]
        if record.mode == "notify":
            text = record.message or ""
            await self._add_turn(record, "bot", text)
            await self._transition(record, "speaking")
            return [self._say(text), Hangup()]
        greeting = self.greeting(record)
        if answered_by == "machine":
            await self._add_turn(record, "bot", greeting)
            record.end_reason = "voicemail"
            await self._transition(record, "voicemail")
            return [self._say(greeting), Hangup()]
        await self._add_turn(record, "bot", greeting)
        await self._transition(record, "listening")
        return [await self._gather(record, greeting)]

    def greeting(self, record: CallRecord) -> str:
        """The first line of a conversation: the outbound message, or the inbound greeting."""
        return record.message or self.config.inbound_greeting or DEFAULT_GREETING

    async def _user_input(self, record: CallRecord, event: UserInput) -> list[Action]:
        text = (event.speech or "").strip()
        if event.digits:
            text = f"{text} [keypad: {event.digits}]".strip()
        if not text:
            return await self._no_input(record)
        reply = await self.on_user_turn(record, text, confidence=event.confidence, source="gather")
        if reply.end_call:
            return [self._say(reply.text), Hangup()]
        return [await self._gather(record, reply.text)]

    async def _no_input(self, record: CallRecord) -> list[Action]:
        text, hang_up = await self.on_silence(record)
        if hang_up:
            await self._transition(record, "hangup-bot")
            return [self._say(text), Hangup()]
        return [await self._gather(record, text)]

    async def on_silence(self, record: CallRecord) -> tuple[str, bool]:
        """The caller said nothing for a whole turn: what to say, and whether to hang up after.

        Both modes share this, so a silent caller is re-prompted ``noInputRetries`` times and
        then told goodbye whether the carrier or we do the listening.
        """
        record.no_input_count += 1
        if record.no_input_count > self.config.no_input_retries:
            await self._add_turn(record, "bot", NO_INPUT_GOODBYE)
            record.end_reason = "hangup-bot"
            await self.store.save(record)
            return NO_INPUT_GOODBYE, True
        await self.store.save(record)
        return REPROMPT, False

    # ------------------------------------------------------------------ the one turn path

    async def on_user_turn(
        self, record: CallRecord, text: str, *, confidence: float | None = None, source: str = "stream"
    ) -> AgentReply:
        """Store the caller's words, ask the agent, store and return its reply.

        The user's words are persisted before the agent is asked, so a crash mid-turn loses
        nothing the caller said.
        """
        started = time.perf_counter()
        record.no_input_count = 0
        await self._add_turn(record, "user", text)
        await self._transition(record, "listening")
        _log.info("call %s: user (%s) said %r", record.call_id, source, _log_text(text))
        request = AgentRequest(
            call_id=record.call_id,
            transcript=tuple(record.transcript),
            from_number=record.from_number,
            to_number=record.to_number,
            direction=record.direction,
            purpose=record.message,
        )
        try:
            reply = await asyncio.wait_for(self.agent.reply(request), self.config.response_timeout_ms / 1000)
        except Exception as exc:  # the caller must hear something, whatever the agent did
            _log.warning(
                "call %s: agent failed (%s); using fallback reply", record.call_id, type(exc).__name__
            )
            reply = AgentReply(text=AGENT_FALLBACK)
        if not reply.text.strip():
            reply = AgentReply(text=AGENT_FALLBACK, end_call=reply.end_call)
        await self._add_turn(record, "bot", reply.text)
        latency_ms = round((time.perf_counter() - started) * 1000, 1)
        record.metadata["turnCount"] = int(record.metadata.get("turnCount", 0)) + 1
        record.metadata["lastTurnLatencyMs"] = latency_ms
        if reply.end_call:
            record.end_reason = "hangup-bot"
        await self._transition(record, "hangup-bot" if reply.end_call and source == "gather" else "speaking")
        return reply

    # ------------------------------------------------------------------ streams

    def attach_stream(self, call_id: str, stream: LiveStream) -> None:
        self._streams[call_id] = stream

    def detach_stream(self, call_id: str, stream: LiveStream) -> None:
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
        try:
            placed = await self.carrier.control.place_call(
                to=to,
                from_=cfg.from_number,
                answer_url=self.routes.webhook_url(kind="answer", call_id=record.call_id),
                status_url=self.routes.webhook_url(kind="status", call_id=record.call_id),
                ring_timeout_seconds=cfg.ring_timeout_ms / 1000,
            )
        except Exception:
            record.end_reason = "failed"
            await self._transition(record, "failed")
            raise
        record.provider_call_id = placed.provider_call_id
        await self.store.save(record)
        return record

    async def get_call(self, call_id: str) -> CallRecord:
        record = await self.store.get(call_id)
        if record is None:
            raise CallNotFound(f"no call {call_id!r}")
        return record

    async def speak(self, call_id: str, text: str) -> CallRecord:
        """Say ``text`` on a live call, then keep listening."""
        record = await self.get_call(call_id)
        if record.terminal:
            raise TelephonyError(f"call {call_id} has ended ({record.state})")
        stream = self._streams.get(call_id)
        async with self._locks[call_id]:
            await self._add_turn(record, "bot", text)
            await self._transition(record, "speaking")
            gather = None if stream is not None else await self._gather(record, text)
        if gather is None:
            assert stream is not None
            await stream.speak(text)
        else:
            await self.carrier.control.update(self._ref(record), [gather])
        return record

    async def end_call(self, call_id: str, *, reason: str = "hangup-bot", force: bool = False) -> CallRecord:
        """Hang up (idempotent: ending an ended call is not an error).

        Args:
            force: End the call here even if the carrier refuses the hang-up (timers and
                stream teardown use this, so a carrier error cannot keep a call live forever).
        """
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
            record.end_reason = reason
            await self._transition(record, reason)
        stream = self._streams.pop(call_id, None)
        if stream is not None:
            await stream.close()
        return record
