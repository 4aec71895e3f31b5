"""Stream mode: one media WebSocket, from token check to hang-up.

The carrier streams caller audio; we transcribe it, route each final transcript through the
engine's single turn path, speak the reply as paced 20 ms frames with marks, and clear the
carrier's buffer when the caller talks over us (barge-in).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Protocol

import anyio
from anyio.abc import TaskGroup

from telephony.providers import (
    MULAW_8K,
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
    TextToSpeech,
    TranscriptionStream,
)

from .audio import OutboundEncoder, Transcoder
from .engine import ConversationEngine
from .liveness import StreamLease
from .store import CallRecord

_log = logging.getLogger("telephony.stream")

POLICY_VIOLATION = 1008
MAX_UTTERANCE_SECONDS = 15.0  # the segmenter's default cap on one utterance


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

    def __init__(self, text: str, mark: str, hang_up_after: bool) -> None:
        self.text = text
        self.mark = mark
        self.hang_up_after = hang_up_after
        self.sent_ms = 0.0
        self.started_at: float | None = None
        self.interrupted = False
        self.done = asyncio.Event()


class StreamSession:
    """Drives one call's media stream.

    Args:
        playback_lead_ms: How far ahead of real time audio may be sent. A little lead hides
            network jitter; a lot makes barge-in slow, because the carrier plays what it holds.
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
    ) -> None:
        self.engine = engine
        self.codec = codec
        self.tts = tts
        self.stt = stt
        self.socket = socket
        self.pre_start_timeout = pre_start_timeout
        self.lead_ms = playback_lead_ms
        self.call_id: str | None = None  # the call this socket serves; its state lives in the store
        self.media: MediaSession | None = None
        self._queue: asyncio.Queue[_Utterance] = asyncio.Queue()
        self._playing: _Utterance | None = None
        self._marks = 0
        self._group: TaskGroup | None = None
        self._transcriber: TranscriptionStream | None = None
        self._lease: StreamLease | None = None
        self._closed = asyncio.Event()

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
        """Accept only a fresh token bound to this call, and only for the carrier call it names."""
        call_id = start.parameters.get("callId", "")
        token = start.parameters.get("token", "")
        if not call_id or not token:
            return None
        record = await self.engine.store.get(call_id)
        if record is None or record.terminal:
            return None
        if record.provider_call_id not in (None, start.provider_call_id):
            return None
        if not await self.engine.store.consume_token(token, call_id):
            return None
        return record

    async def run(self) -> None:
        """Serve the socket until the stream stops; refuse it without sending audio if unauthorized."""
        try:
            with anyio.fail_after(self.pre_start_timeout):
                start = await self._await_start()
        except (TimeoutError, MediaRejected) as exc:
            _log.info("stream refused: %s", exc or "no start message in time")
            await self.socket.close(POLICY_VIOLATION, "stream start missing or malformed")
            return
        if start is None:
            return
        record = await self._authorize(start)
        if record is None:
            _log.warning("stream refused: missing, wrong or reused token")
            await self.socket.close(POLICY_VIOLATION, "invalid stream token")
            return
        if not await self._hold_lease(record.call_id):
            _log.warning("call %s: stream refused: the call is being ended as lost", record.call_id)
            await self.socket.close(POLICY_VIOLATION, "call ended")
            return
        self.call_id = record.call_id
        try:
            await self._serve(record, start)
        finally:
            await self._shutdown()

    async def _hold_lease(self, call_id: str) -> bool:
        """Hold the call's stream lease, so every instance sharing the store sees the stream live.

        The lease is taken before the record is read again: a sweep that found the call's
        stream missing holds the lease while it ends the call, so either it sees this stream or
        this stream sees the call ended.
        """
        store = self.engine.store
        lease = StreamLease(store, call_id, self.engine.config.streaming.lease_ms / 1000)
        if not await lease.acquire():
            return False
        record = await store.get(call_id)
        if record is None or record.terminal:
            await lease.release()
            return False
        self._lease = lease
        return True

    # ------------------------------------------------------------------ main loop

    async def _serve(self, record: CallRecord, start: StreamStarted) -> None:
        self.media = self.codec.session(start)
        self.engine.attach_stream(record.call_id, self)
        self._transcriber = await self.stt.open_stream(language=self.engine.config.language)
        inbound = Transcoder(start.audio_format, self.stt.sample_rate)
        # Playback, recognition and turns belong to this stream: they end with it.
        async with anyio.create_task_group() as group:
            self._group = group
            if self._lease is not None:
                group.start_soon(self._lease.keep)
            group.start_soon(self._play_loop)
            group.start_soon(self._transcript_loop, self._transcriber)
            await self._opening(record)
            await self._receive_loop(record, inbound)
            group.cancel_scope.cancel()

    async def _receive_loop(self, record: CallRecord, inbound: Transcoder) -> None:
        assert self.media is not None and self._transcriber is not None
        while not self._closed.is_set():
            frame = await self.socket.receive()
            if frame is None:
                break
            try:
                event: MediaEvent = self.media.decode(frame)
            except MediaRejected as exc:
                _log.info("call %s: bad media frame dropped (%s)", record.call_id, exc)
                continue
            match event:
                case AudioReceived(payload=payload):
                    await self._transcriber.send(inbound.to_pcm(payload))
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

    async def speak(self, text: str, *, hang_up_after: bool = False) -> None:
        """Queue ``text`` for playback; the caller of this has already stored it in the transcript."""
        self._stop_listening()
        self._marks += 1
        await self._queue.put(_Utterance(text, f"u{self._marks}", hang_up_after))

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
        encoder: OutboundEncoder | None = None
        frame_ms = 20.0
        utterance.started_at = time.monotonic()
        async for chunk in self.tts.synthesize(utterance.text):
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
        await self._send(SendMark(name=utterance.mark))
        await utterance.done.wait()

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
        elif self._queue.empty() and self.call_id is not None:
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
            await self.engine.trim_bot_turn(self.call_id, utterance.text, fraction)

    # ------------------------------------------------------------------ listening

    async def _transcript_loop(self, transcriber: TranscriptionStream) -> None:
        async for event in transcriber.events():
            if event.kind == "speech_started" and self.call_id is not None:
                # Sound that never becomes words must not leave the call waiting forever:
                # allow the longest utterance, then treat it as silence.
                self.engine.listen(self.call_id, extra_seconds=MAX_UTTERANCE_SECONDS)
                await self._barge_in()
            elif event.kind == "final" and event.text.strip():
                self._stop_listening()
                await self._turn(event.text.strip(), event.confidence)

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
        reply = await self.engine.user_turn(self.call_id, text, confidence=confidence)
        if reply is not None:
            await self.speak(reply.text, hang_up_after=reply.end_call)

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
        try:
            if self._transcriber is not None:
                await self._transcriber.aclose()
            if self.call_id is not None:
                self.engine.detach_stream(self.call_id, self)
                await self.engine.stream_ended(self.call_id)
        finally:
            # Only now: released before the call ended, a sweep could take it for a lost stream.
            if self._lease is not None:
                await self._lease.release()
