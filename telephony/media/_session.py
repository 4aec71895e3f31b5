"""Stream mode: one media WebSocket, from token check to hang-up.

The carrier streams caller audio; we transcribe it, route each final transcript through the
engine's single turn path, speak the reply as paced 20 ms frames with marks, and clear the
carrier's buffer when the caller talks over us (barge-in).

Speech engines fail, and a call must outlive them: a slow agent is covered by a holding line,
a line that cannot be synthesized by a fallback line rendered ahead of time, and a recognizer
that fails is replaced while the caller is asked to repeat what was lost.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import logging
import secrets
import time
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from dataclasses import dataclass
from typing import Protocol

import anyio
from anyio.abc import TaskGroup

from telephony.providers import (
    MULAW_8K,
    AgentReply,
    AudioFormat,
    AudioReceived,
    ClearAudio,
    DigitReceived,
    Ignored,
    MarkReached,
    MediaCodec,
    MediaEvent,
    MediaRejected,
    MediaSession,
    SendAudio,
    SendMark,
    SpeechToText,
    StreamStarted,
    StreamStopped,
    SynthesizedAudio,
    TextToSpeech,
    TranscriptEvent,
    TranscriptionStream,
    failure_cause,
)

from ..engine import ConversationEngine
from ..lines import HOLDING_LINE, TTS_FALLBACK
from ..liveness import StreamLease
from ..observability import FrameLagMeter, Metrics, RateLimitedLog, bind_call
from ..store import CallRecord, CallStore, StoreUnavailable
from . import _fallback_audio as fallback_audio
from ._audio import InboundDecoder, OutboundEncoder

__all__ = [
    "MAX_CALL_ID_CHARS",
    "MAX_TOKEN_CHARS",
    "MAX_UTTERANCE_SECONDS",
    "POLICY_VIOLATION",
    "RECOGNIZER_RETRY_SECONDS",
    "RECOGNIZER_SEND_SECONDS",
    "STORE_RETRY_SECONDS",
    "TRY_AGAIN_LATER",
    "FrameSocket",
    "StreamCredential",
    "StreamSession",
    "admit_upgrade",
    "refuse_stream",
]

_log = logging.getLogger("telephony.stream")
# Anyone can open a socket and send junk: these lines are kept to a few a minute.
_REFUSALS = RateLimitedLog(_log, what="refused streams")


def refuse_stream(metrics: Metrics, code: int, message: str, *args: object) -> None:
    """Log a refused media socket (a few lines a minute: anyone can open sockets) and count it."""
    _REFUSALS.warning(message, *args)
    metrics.rejected(code)


_BAD_FRAMES = RateLimitedLog(_log, what="malformed media frames")

POLICY_VIOLATION = 1008
TRY_AGAIN_LATER = 1013
MAX_UTTERANCE_SECONDS = 15.0  # the segmenter's default cap on one utterance

RECOGNIZER_SEND_SECONDS = 2.0  # feeding audio never takes this long unless the recognizer hangs
RECOGNIZER_RETRY_SECONDS = (0.5, 1.0, 2.0, 5.0)  # waits between attempts to open a new recognizer
STORE_RETRY_SECONDS = (0.5, 1.0, 2.0, 3.0)  # waits between attempts of a turn the store failed


MAX_CALL_ID_CHARS = 64
MAX_TOKEN_CHARS = 256


@dataclass(frozen=True)
class StreamCredential:
    """The call and single-use token a stream URL names in its last two path segments."""

    call_id: str
    token: str

    def well_formed(self) -> bool:
        """Shaped like a call id and a token at all; junk is refused without a store look-up."""
        return (
            0 < len(self.call_id) <= MAX_CALL_ID_CHARS
            and self.call_id.isascii()
            and self.call_id.isalnum()
            and 0 < len(self.token) <= MAX_TOKEN_CHARS
            and self.token.isascii()
            and self.token.isprintable()
        )


async def admit_upgrade(store: CallStore, credential: StreamCredential) -> str | None:
    """Spend a stream URL's credential on the HTTP upgrade; why it is refused, or None if good.

    The call must exist and not have ended, and the token must be unused, unexpired and bound
    to that call. A token shown for another call is refused without being spent.
    """
    if not credential.well_formed():
        return "malformed stream URL"
    record = await store.get(credential.call_id)
    if record is None or record.terminal:
        return "no live call by that id"
    if not await store.consume_token(credential.token, credential.call_id):
        return "wrong, reused or expired token"
    return None


class FrameSocket(Protocol):
    """The few WebSocket operations a session needs (the server adapts its framework's socket)."""

    async def receive(self) -> str | bytes | None:
        """Next frame, or None once the peer has gone."""
        ...

    async def send(self, frame: str) -> None:
        """Send one frame; a closed socket drops it."""
        ...

    async def close(self, code: int = 1000, reason: str = "") -> None:
        """Close the socket (safe to call twice)."""
        ...


class _Utterance:
    """One reply being played: its text, how much audio went out, and whether it was heard."""

    def __init__(self, text: str, mark: str, hang_up_after: bool, *, holding: bool = False) -> None:
        self.text = text
        self.mark = mark
        self.hang_up_after = hang_up_after
        self.holding = holding  # a holding line: the caller's turn does not start when it ends
        self.sent_ms = 0.0
        self.started_at: float | None = None
        self.interrupted = False
        self.done = asyncio.Event()


class StreamSession:
    """Drives one call's media stream.

    Args:
        playback_lead_ms: How far ahead of real time audio may be sent. A little lead hides
            network jitter; a lot makes barge-in slow, because the carrier plays what it holds.
        go_live: Asked once the stream's token is accepted: whether a live slot is free. The
            stream is refused with 1013 (try again later) when it says no.
        credential: The credential the socket's URL carried, already spent on the upgrade.
            The ``start`` message must then name the same call (and the same token, if it
            carries one); without it, the ``start`` message's own token is checked and spent.
    """

    def __init__(
        self,
        *,
        engine: ConversationEngine,
        codec: MediaCodec,
        tts: TextToSpeech,
        stt: SpeechToText,
        socket: FrameSocket,
        pre_start_timeout: float = 5.0,
        playback_lead_ms: float = 200.0,
        go_live: Callable[[], bool] | None = None,
        credential: StreamCredential | None = None,
    ) -> None:
        self.engine = engine
        self.codec = codec
        self.tts = tts
        self.stt = stt
        self.socket = socket
        self.pre_start_timeout = pre_start_timeout
        self.lead_ms = playback_lead_ms
        self._go_live = go_live
        self._credential = credential
        self.call_id: str | None = None  # the call this socket serves; its state lives in the store
        self.media: MediaSession | None = None
        self._queue: asyncio.Queue[_Utterance] = asyncio.Queue()
        self._playing: _Utterance | None = None
        self._marks = 0
        self._group: TaskGroup | None = None
        self._transcriber: TranscriptionStream | None = None
        self._recognizer_scope: anyio.CancelScope | None = None
        self._recognizer_failure: str | None = None
        self._caller_speaking = False
        self._lease: StreamLease | None = None
        self._closed = asyncio.Event()
        self._lag: FrameLagMeter | None = None

    # ------------------------------------------------------------------ handshake

    async def _await_start(self) -> StreamStarted | None:
        while True:
            frame = await self.socket.receive()
            if frame is None:
                return None
            event = self.codec.decode(frame)
            if isinstance(event, StreamStarted):
                return event
            if not isinstance(event, Ignored):
                raise MediaRejected(f"{type(event).__name__} before the stream start message")

    async def _authorize(self, start: StreamStarted) -> CallRecord | None:
        """Accept only a fresh token bound to this call, and only for the carrier call it names.

        A socket whose URL credential was spent on the upgrade must name that same call here.
        """
        call_id = start.parameters.get("callId", "")
        token = start.parameters.get("token", "")
        admitted = self._credential
        if admitted is not None:
            if not hmac.compare_digest(call_id.encode(), admitted.call_id.encode()):
                return None
            named = "token" in start.parameters
            if named and not hmac.compare_digest(token.encode(), admitted.token.encode()):
                return None
        elif not call_id or not token:
            return None
        record = await self.engine.store.get(call_id)
        if record is None or record.terminal:
            return None
        if record.provider_call_id not in (None, start.provider_call_id):
            return None
        if admitted is None and not await self.engine.store.consume_token(token, call_id):
            return None
        return record

    async def _refuse(self, code: int, close_reason: str, message: str, *args: object) -> None:
        refuse_stream(self.engine.metrics, code, message, *args)
        await self.socket.close(code, close_reason)

    async def run(self) -> None:
        """Serve the socket until the stream stops; refuse it without sending audio if unauthorized."""
        try:
            with anyio.fail_after(self.pre_start_timeout):
                start = await self._await_start()
        except (TimeoutError, MediaRejected) as exc:
            # The timeout says nothing of its own (str() is empty): name it here.
            reason = "no start message in time" if isinstance(exc, TimeoutError) else str(exc)
            await self._refuse(
                POLICY_VIOLATION, "stream start missing or malformed", "stream refused: %s", reason
            )
            return
        if start is None:
            return
        record = await self._authorize(start)
        if record is None:
            await self._refuse(
                POLICY_VIOLATION, "invalid stream token", "stream refused: missing, wrong or reused token"
            )
            return
        if self._go_live is not None and not self._go_live():
            await self.socket.close(TRY_AGAIN_LATER, "too many streams")
            return
        if not await self._hold_lease(record.call_id):
            message = "call %s: stream refused: the call ended, or went on in markup mode without it"
            await self._refuse(POLICY_VIOLATION, "call ended", message, record.call_id)
            return
        self.call_id = record.call_id
        bind_call(record.call_id, record.provider)  # every line of this stream, and of its tasks
        try:
            await self._serve(record, start)
        finally:
            await self._shutdown()

    async def _hold_lease(self, call_id: str) -> bool:
        """Hold the call's stream lease, so every instance sharing the store sees the stream live.

        The lease is taken before the record is read again: a sweep that found the call's
        stream missing holds the lease while it ends the call, so either it sees this stream or
        this stream sees the call ended. The move of a call whose stream came too late to markup
        mode holds the lease likewise, so a stream arriving after it finds the call in markup
        mode, and is refused.
        """
        store = self.engine.store
        lease = StreamLease(store, call_id, self.engine.config.streaming.lease_ms / 1000)
        if not await lease.acquire():
            return False
        record = await store.get(call_id)
        if record is None or record.terminal or record.media != "stream":
            await lease.release()
            return False
        self._lease = lease
        return True

    # ------------------------------------------------------------------ main loop

    async def _serve(self, record: CallRecord, start: StreamStarted) -> None:
        self.media = self.codec.session(start)
        self.engine.attach_stream(record.call_id, self)
        try:
            self._transcriber = await self.stt.open_stream(language=self.engine.config.language)
        except Exception as exc:  # the recognizer loop keeps trying; the greeting goes out anyway
            _log.warning("call %s: speech recognizer failed to open (%s)", record.call_id, failure_cause(exc))
        inbound = InboundDecoder(start.audio_format, self.stt.sample_rate)
        # Playback, recognition and turns belong to this stream: they end with it.
        async with anyio.create_task_group() as group:
            self._group = group
            group.start_soon(fallback_audio.prepare, self.tts, TTS_FALLBACK)
            if self._lease is not None:
                group.start_soon(self._lease.keep)
            group.start_soon(self._play_loop)
            group.start_soon(self._recognize)
            await self._opening(record)
            await self._receive_loop(record, inbound)
            group.cancel_scope.cancel()

    async def _receive_loop(self, record: CallRecord, inbound: InboundDecoder) -> None:
        assert self.media is not None
        lag = self._lag = FrameLagMeter(
            self.engine.metrics.stream_frame_lag.labels(record.provider).observe,
            self.media.started.audio_format,
        )
        while not self._closed.is_set():
            frame = await self.socket.receive()
            if frame is None:
                break
            try:
                event: MediaEvent = self.media.decode(frame)
            except MediaRejected as exc:
                _BAD_FRAMES.warning("call %s: malformed media frame dropped (%s)", record.call_id, exc)
                continue
            match event:
                case AudioReceived(payload=payload, timestamp_ms=timestamp_ms):
                    lag.frame(len(payload), timestamp_ms)
                    await self._feed(inbound.to_pcm(payload))
                case DigitReceived(digit=digit):
                    self._stop_listening()
                    self._spawn_turn(f"[keypad: {digit}]")
                case MarkReached(name=name):
                    self._mark_reached(name)
                case StreamStopped():
                    break
                case _:
                    pass

    async def _opening(self, record: CallRecord) -> None:
        """Speak the greeting (conversation) or the message (notify, then hang up)."""
        text, hang_up = await self.engine.opening_line(record.call_id)
        await self.speak(text, hang_up_after=hang_up)

    # ------------------------------------------------------------------ speaking

    async def speak(self, text: str, *, hang_up_after: bool = False, holding: bool = False) -> None:
        """Queue ``text`` for playback; the caller of this has already stored it in the transcript."""
        self._stop_listening()
        self._marks += 1
        await self._queue.put(_Utterance(text, f"u{self._marks}", hang_up_after, holding=holding))

    @property
    def _playback_format(self) -> AudioFormat:
        return self.media.started.playback_format if self.media is not None else MULAW_8K

    async def _send(self, message: SendAudio | SendMark | ClearAudio) -> None:
        if self.media is not None:
            await self.socket.send(self.media.encode(message))

    async def _play_loop(self) -> None:
        while True:
            utterance = await self._queue.get()
            self._playing = utterance
            try:
                await self._play(utterance)
            except Exception:  # one line that cannot be spoken must not end the call
                _log.exception("call %s: playing a line failed", self.call_id)
                utterance.done.set()
            finally:
                if self._playing is utterance and utterance.done.is_set():
                    self._playing = None

    async def _play(self, utterance: _Utterance) -> None:
        """Speak one line, or the fallback line if it cannot be synthesized; then mark its end."""
        utterance.started_at = time.monotonic()
        try:
            async with contextlib.aclosing(self._synthesize(utterance.text)) as chunks:
                await self._send_audio(utterance, chunks)
        except Exception as exc:  # TimeoutError included: a stalled engine fails the line too
            if utterance.interrupted:
                return
            await self._play_fallback(utterance, exc)
        if utterance.interrupted:
            return
        await self._send(SendMark(name=utterance.mark))
        await utterance.done.wait()

    async def _synthesize(self, text: str) -> AsyncGenerator[SynthesizedAudio, None]:
        """The engine's audio for ``text``; each chunk must come within ``ttsTimeoutMs``."""
        limit = self.engine.config.tts_timeout_ms / 1000
        source = aiter(self.tts.synthesize(text))
        try:
            while True:
                with anyio.fail_after(limit):
                    try:
                        chunk = await anext(source)
                    except StopAsyncIteration:
                        return
                yield chunk
        finally:
            aclose = getattr(source, "aclose", None)
            if aclose is not None:
                with contextlib.suppress(Exception):
                    await aclose()

    async def _play_fallback(self, utterance: _Utterance, exc: Exception) -> None:
        """The line failed: say the fallback line instead, from audio rendered ahead of time.

        A goodbye that fails is not replaced (the call ends after it all the same), and with
        no fallback audio the line's mark still goes out, so the caller's turn still starts.
        """
        why = f"no audio in {self.engine.config.tts_timeout_ms} ms" if isinstance(exc, TimeoutError) else None
        _log.warning(
            "call %s: speech synthesis failed (%s); %s",
            self.call_id,
            why or failure_cause(exc),
            "ending as planned" if utterance.hang_up_after else "saying the fallback line",
        )
        if utterance.hang_up_after:
            return
        audio = fallback_audio.cached(self.tts, TTS_FALLBACK)
        if audio is None:
            _log.error("call %s: no fallback audio either; the caller hears nothing this turn", self.call_id)
            return
        await self._send_audio(utterance, _replay(audio))

    async def _send_audio(self, utterance: _Utterance, chunks: AsyncIterator[SynthesizedAudio]) -> None:
        encoder: OutboundEncoder | None = None
        frame_ms = 20.0
        async for chunk in chunks:
            if encoder is None:
                encoder = OutboundEncoder(chunk.sample_rate, self._playback_format)
            for frame in encoder.feed(chunk.pcm):
                await self._pace(utterance)
                if utterance.interrupted:
                    return
                await self._send(SendAudio(payload=frame))
                utterance.sent_ms += frame_ms
        if utterance.interrupted:
            return
        if encoder is not None:
            for frame in encoder.flush():
                await self._send(SendAudio(payload=frame))
                utterance.sent_ms += frame_ms

    async def _pace(self, utterance: _Utterance) -> None:
        assert utterance.started_at is not None
        ahead = utterance.sent_ms - (time.monotonic() - utterance.started_at) * 1000
        if ahead > self.lead_ms:
            await asyncio.sleep((ahead - self.lead_ms) / 1000)

    def _mark_reached(self, name: str) -> None:
        utterance = self._playing
        if utterance is None or utterance.mark != name:
            return
        utterance.done.set()
        self._playing = None
        if utterance.hang_up_after and self.call_id is not None:
            self.engine.spawn(self._hang_up())
        elif self._queue.empty() and not utterance.holding and self.call_id is not None:
            self.engine.listen(self.call_id)

    # ------------------------------------------------------------------ silence

    def _stop_listening(self) -> None:
        if self.call_id is not None:
            self.engine.stop_listening(self.call_id)

    async def _hang_up(self) -> None:
        if self.call_id is not None:
            await self.engine.end_call(self.call_id)

    async def _barge_in(self) -> None:
        """The caller talks over us: drop queued audio and keep only what was heard."""
        utterance = self._playing
        if utterance is None or utterance.started_at is None or utterance.hang_up_after:
            return
        # Stop the player before the clear, so no frame of this reply can follow it.
        utterance.interrupted = True
        utterance.done.set()
        self._playing = None
        while not self._queue.empty():
            self._queue.get_nowait()
        await self._send(ClearAudio())
        heard_ms = min((time.monotonic() - utterance.started_at) * 1000, utterance.sent_ms)
        fraction = heard_ms / utterance.sent_ms if utterance.sent_ms else 0.0
        if self.call_id is not None:
            try:
                await self.engine.trim_bot_turn(self.call_id, utterance.text, fraction)
            except StoreUnavailable:  # the transcript keeps the whole line; the call goes on
                _log.debug("call %s: barge-in not written: the store is unreachable", self.call_id)

    # ------------------------------------------------------------------ listening

    async def _feed(self, pcm: bytes) -> None:
        """Give the recognizer caller audio; one that fails or hangs is replaced (audio meanwhile is lost)."""
        transcriber = self._transcriber
        if transcriber is None or self._recognizer_failure is not None:
            return
        try:
            with anyio.fail_after(RECOGNIZER_SEND_SECONDS):
                await transcriber.send(pcm)
        except Exception as exc:
            self._recognizer_failed(
                f"no room for audio in {RECOGNIZER_SEND_SECONDS:g} s"
                if isinstance(exc, TimeoutError)
                else failure_cause(exc)
            )

    def _recognizer_failed(self, why: str) -> None:
        if self._recognizer_failure is None:
            self._recognizer_failure = why
        if self._recognizer_scope is not None:
            self._recognizer_scope.cancel()

    async def _recognize(self) -> None:
        """Run the recognizer for the life of the stream, replacing it whenever it fails."""
        while not self._closed.is_set():
            transcriber = self._transcriber or await self._open_recognizer()
            if transcriber is None:
                return  # the stream closed while we were trying
            why = await self._transcript_loop(transcriber)
            if self._closed.is_set():
                return
            _log.warning("call %s: speech recognizer failed (%s); replacing it", self.call_id, why)
            self._transcriber = None
            with anyio.move_on_after(1.0), contextlib.suppress(Exception):
                await transcriber.aclose()
            self._recognizer_failure = None
            if self._caller_speaking or (self._playing is None and self._queue.empty()):
                # The caller was talking, or may have been (it was their turn): ask again.
                await self._words_lost("the recognizer failed during the caller's turn")

    async def _open_recognizer(self) -> TranscriptionStream | None:
        """A new recognizer, retried with growing waits until one opens or the stream closes."""
        attempt = 0
        while not self._closed.is_set():
            try:
                self._transcriber = await self.stt.open_stream(language=self.engine.config.language)
                return self._transcriber
            except Exception as exc:
                wait = RECOGNIZER_RETRY_SECONDS[min(attempt, len(RECOGNIZER_RETRY_SECONDS) - 1)]
                attempt += 1
                _log.warning(
                    "call %s: speech recognizer failed to open (%s); trying again in %g s",
                    self.call_id,
                    failure_cause(exc),
                    wait,
                )
                with anyio.move_on_after(wait):
                    await self._closed.wait()
        return None

    async def _transcript_loop(self, transcriber: TranscriptionStream) -> str:
        """Act on the recognizer's events until it fails; return why it stopped.

        Only the wait for the next event can be cut short by a failure seen elsewhere (audio it
        would not take), so a turn being answered is never cancelled by it.
        """
        events = aiter(transcriber.events())
        try:
            while self._recognizer_failure is None:
                with anyio.CancelScope() as scope:
                    self._recognizer_scope = scope
                    try:
                        event = await anext(events)
                    except StopAsyncIteration:
                        return "its events ended"
                    except Exception as exc:
                        return failure_cause(exc)
                    finally:
                        self._recognizer_scope = None
                if not scope.cancelled_caught:
                    await self._on_transcript(event)
            return self._recognizer_failure or "it failed"
        finally:
            aclose = getattr(events, "aclose", None)
            if aclose is not None:
                with anyio.move_on_after(1.0), contextlib.suppress(Exception):
                    await aclose()

    async def _on_transcript(self, event: TranscriptEvent) -> None:
        if event.kind == "speech_started" and self.call_id is not None:
            self._caller_speaking = True
            # Sound that never becomes words must not leave the call waiting forever:
            # allow the longest utterance, then treat it as silence.
            self.engine.listen(self.call_id, extra_seconds=MAX_UTTERANCE_SECONDS)
            await self._barge_in()
        elif event.kind == "final" and event.text.strip():
            self._caller_speaking = False
            self._stop_listening()
            await self._turn(event.text.strip(), event.confidence)
        elif event.kind == "failed":
            await self._words_lost(event.text or "recognition failed")

    async def _words_lost(self, why: str) -> None:
        """What the caller said could not be recognized: treat the turn as no input, and ask again."""
        self._caller_speaking = False
        if self.call_id is None:
            return
        _log.warning("call %s: the caller's words were lost (%s); asking again", self.call_id, why)
        self._stop_listening()
        try:
            line = await self.engine.silence(self.call_id)
        except StoreUnavailable:  # nothing to write it to: the caller speaks again when ready
            _log.debug("call %s: the re-prompt was skipped: the store is unreachable", self.call_id)
            return
        if line is not None:
            await self.speak(line[0], hang_up_after=line[1])

    def _spawn_turn(self, text: str) -> None:
        if self._group is not None:
            self._group.start_soon(self._guarded_turn, text)

    async def _guarded_turn(self, text: str) -> None:
        try:
            await self._turn(text, None)
        except Exception:
            _log.exception("call %s: a keypad turn failed", self.call_id)

    async def _turn(self, text: str, confidence: float | None) -> None:
        if self.call_id is None:
            return
        async with anyio.create_task_group() as group:
            group.start_soon(self._hold)
            reply = await self._kept_turn(self.call_id, text, confidence)
            group.cancel_scope.cancel()
        if reply is not None:
            await self.speak(reply.text, hang_up_after=reply.end_call)

    async def _kept_turn(self, call_id: str, text: str, confidence: float | None) -> AgentReply | None:
        """The turn's reply; a turn the store fails is kept and tried again until it is served.

        The audio keeps flowing meanwhile (the caller hears the holding line), and the turn's id
        keeps a retry of a turn the store failed part way from storing the caller's words twice.
        Given up only when the stream closes.
        """
        turn_id = f"stream-turn:{secrets.token_hex(8)}"
        attempt = 0
        while True:
            try:
                return await self.engine.user_turn(call_id, text, confidence=confidence, turn_id=turn_id)
            except StoreUnavailable:
                wait = STORE_RETRY_SECONDS[min(attempt, len(STORE_RETRY_SECONDS) - 1)]
                attempt += 1
                _log.debug("call %s: turn kept (store unreachable); trying again in %g s", call_id, wait)
                with anyio.move_on_after(wait):
                    await self._closed.wait()
                if self._closed.is_set():
                    _log.warning("call %s: the stream closed before the store came back; turn lost", call_id)
                    return None

    async def _hold(self) -> None:
        """The agent is still thinking after ``holdingLineAfterMs``: tell the caller so."""
        delay = self.engine.config.holding_line_after_ms / 1000
        if delay <= 0:
            return
        await anyio.sleep(delay)
        _log.info("call %s: no agent reply after %g s; saying the holding line", self.call_id, delay)
        await self.speak(HOLDING_LINE, holding=True)

    # ------------------------------------------------------------------ teardown

    async def close(self) -> None:
        """Stop the session (the call ended elsewhere); the socket loop then returns."""
        if self._closed.is_set():
            return
        self._closed.set()
        with contextlib.suppress(Exception):
            await self.socket.close(1000, "call ended")

    async def _shutdown(self) -> None:
        """Tear down; a stream that ends while its call is live ends the call too.

        Nothing follows ``<Connect><Stream>`` in our markup, so a stopped stream means the call
        is over; waiting for a status callback that may never come would leave it "live" and
        holding a concurrency slot.
        """
        self._closed.set()
        self._stop_listening()
        if self._lag is not None:
            self._lag.flush()
        try:
            if self._transcriber is not None:
                try:
                    await self._transcriber.aclose()
                except Exception as exc:  # the call still ends cleanly
                    _log.warning(
                        "call %s: closing the recognizer failed (%s)", self.call_id, failure_cause(exc)
                    )
            if self.call_id is not None:
                self.engine.detach_stream(self.call_id, self)
                await self.engine.stream_ended(self.call_id)
        finally:
            # Only now: released before the call ended, a sweep could take it for a lost stream.
            if self._lease is not None:
                await self._lease.release()


async def _replay(audio: tuple[SynthesizedAudio, ...]) -> AsyncIterator[SynthesizedAudio]:
    for chunk in audio:
        yield chunk
