"""Utterance segmentation for recognizers that transcribe whole utterances, not live audio.

Offline and batch engines (pocketsphinx, a Whisper-style HTTP API) need the caller's audio cut
into utterances first. Doing it here once means every such adapter gets the same barge-in
signal (``speech_started``) and the same end-of-turn timing.
"""

from __future__ import annotations

import asyncio
import logging
import math
import warnings
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated, Literal, TypeAlias

import msgspec

from ._cause import failure_cause
from ._contracts import TranscriptEvent

with warnings.catch_warnings():
    # Deprecated in 3.11-3.12, provided by audioop-lts from 3.13; its C ``rms`` is all we need.
    warnings.simplefilter("ignore", DeprecationWarning)
    import audioop

__all__ = ["EnergyVad", "SegmentingTranscriptionStream", "Transcribe", "VadEvent", "VadSettings"]

logger = logging.getLogger(__name__)

Transcribe: TypeAlias = Callable[[bytes, int], Awaitable[tuple[str, float | None]]]
"""``async transcribe(pcm, sample_rate) -> (text, confidence)`` for one whole utterance."""

_Millis = Annotated[int, msgspec.Meta(gt=0, le=600_000)]


class VadSettings(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True, rename="camel"):
    """Tuning of :class:`EnergyVad`; embed it in an adapter's settings to expose it.

    Attributes:
        threshold: RMS (on the int16 scale) a frame must reach to count as speech. Decoded
            G.711 line silence sits well under 100 and speech well over 1000.
        release_ratio: Speech continues while frames stay above ``threshold * release_ratio``;
            the lower bar (hysteresis) keeps soft word endings inside the utterance.
        frame_ms: Analysis frame length.
        start_ms: Sustained loudness needed to start an utterance, so clicks do not barge in.
        silence_ms: Quiet needed to end an utterance (the end-of-turn delay).
        pre_roll_ms: Audio kept before the detected start (and after the end), because the
            first phoneme is softer than the threshold.
        max_utterance_ms: Hard cap so background noise cannot hold an utterance open forever.
    """

    threshold: Annotated[float, msgspec.Meta(gt=0)] = 500.0
    release_ratio: Annotated[float, msgspec.Meta(gt=0, le=1)] = 0.6
    frame_ms: Annotated[int, msgspec.Meta(ge=5, le=100)] = 20
    start_ms: _Millis = 60
    silence_ms: _Millis = 700
    pre_roll_ms: Annotated[int, msgspec.Meta(ge=0, le=10_000)] = 200
    max_utterance_ms: _Millis = 15_000


@dataclass(frozen=True, slots=True)
class VadEvent:
    """A boundary found by :class:`EnergyVad`; ``pcm`` is the whole utterance on ``end``."""

    kind: Literal["start", "end"]
    pcm: bytes = b""


class EnergyVad:
    """Energy-based voice activity detection with hysteresis over PCM16 mono.

    Synchronous and cheap (one C ``rms`` per frame), so it can run inline in ``send``.

    Args:
        sample_rate: Rate of the PCM fed in.
        settings: Thresholds and timings; the defaults suit telephone audio.
    """

    def __init__(self, sample_rate: int, settings: VadSettings | None = None) -> None:
        s = settings or VadSettings()
        if sample_rate <= 0:
            raise ValueError(f"sample_rate must be positive, got {sample_rate}")
        self.settings = s
        self._frame_bytes = max(1, sample_rate * s.frame_ms // 1000) * 2
        self._start_frames = max(1, math.ceil(s.start_ms / s.frame_ms))
        self._silence_frames = max(1, math.ceil(s.silence_ms / s.frame_ms))
        self._pre_roll_frames = s.pre_roll_ms // s.frame_ms
        self._max_frames = max(self._start_frames + 1, s.max_utterance_ms // s.frame_ms)
        self._release = s.threshold * s.release_ratio
        self._buffer = bytearray()
        # While idle we remember the last frames so an utterance can start before its trigger.
        self._history: deque[bytes] = deque(maxlen=self._pre_roll_frames + self._start_frames)
        self._utterance: list[bytes] = []
        self._in_speech = False
        self._loud_run = 0
        self._quiet_run = 0

    @property
    def in_speech(self) -> bool:
        """Whether an utterance is open."""
        return self._in_speech

    def feed(self, pcm: bytes) -> list[VadEvent]:
        """Consume PCM of any length and return the boundaries it completes, in order."""
        self._buffer += pcm
        events: list[VadEvent] = []
        size = self._frame_bytes
        offset = 0
        while len(self._buffer) - offset >= size:
            event = self._frame(bytes(self._buffer[offset : offset + size]))
            offset += size
            if event is not None:
                events.append(event)
        del self._buffer[:offset]
        return events

    def flush(self) -> VadEvent | None:
        """End the open utterance, if any, with whatever audio is buffered (the stream is over)."""
        partial = bytes(self._buffer)
        self._buffer.clear()
        if not self._in_speech:
            self._reset()
            return None
        self._utterance.append(partial)
        return self._end()

    def _frame(self, frame: bytes) -> VadEvent | None:
        rms = audioop.rms(frame, 2)
        if not self._in_speech:
            self._history.append(frame)
            self._loud_run = self._loud_run + 1 if rms >= self.settings.threshold else 0
            if self._loud_run < self._start_frames:
                return None
            self._in_speech = True
            self._utterance = list(self._history)
            self._history.clear()
            self._quiet_run = 0
            return VadEvent("start")
        self._utterance.append(frame)
        self._quiet_run = 0 if rms >= self._release else self._quiet_run + 1
        if self._quiet_run >= self._silence_frames or len(self._utterance) >= self._max_frames:
            return self._end()
        return None

    def _end(self) -> VadEvent:
        # Keep as much trailing quiet as pre-roll: enough context for the recognizer, no more.
        drop = max(0, self._quiet_run - self._pre_roll_frames)
        pcm = b"".join(self._utterance[: len(self._utterance) - drop])
        self._reset()
        return VadEvent("end", pcm)

    def _reset(self) -> None:
        self._in_speech = False
        self._utterance = []
        self._history.clear()
        self._loud_run = 0
        self._quiet_run = 0


class SegmentingTranscriptionStream:
    """A :class:`~providers.TranscriptionStream` built from a VAD and an utterance transcriber.

    ``send`` runs the VAD inline and never waits for recognition: finished utterances go to a
    background task that calls ``transcribe`` one at a time, so finals keep their order and a
    slow recognizer cannot stall the media loop. ``events`` has a single consumer.

    Args:
        transcribe: Recognizes one utterance. When it raises or takes longer than
            ``timeout_seconds``, the utterance is dropped, the cause logged, and a ``failed``
            event tells the listener the caller's words were lost.
        sample_rate: Rate of the PCM16 given to :meth:`send` and passed on to ``transcribe``.
        vad: Segmentation thresholds.
        timeout_seconds: The longest one utterance's recognition may take.
    """

    def __init__(
        self,
        transcribe: Transcribe,
        sample_rate: int,
        *,
        vad: VadSettings | None = None,
        timeout_seconds: float = 8.0,
    ) -> None:
        self._transcribe = transcribe
        self._timeout = timeout_seconds
        self._sample_rate = sample_rate
        self._vad = EnergyVad(sample_rate, vad)
        self._events: asyncio.Queue[TranscriptEvent | None] = asyncio.Queue()
        self._utterances: asyncio.Queue[bytes | None] = asyncio.Queue()
        self._worker: asyncio.Task[None] | None = None
        self._closed = False

    async def send(self, pcm: bytes) -> None:
        """Feed PCM16; audio sent after :meth:`aclose` is dropped (hang-up races are normal)."""
        if self._closed:
            return
        for event in self._vad.feed(pcm):
            if event.kind == "start":
                self._events.put_nowait(TranscriptEvent(kind="speech_started"))
            else:
                self._submit(event.pcm)

    async def events(self) -> AsyncIterator[TranscriptEvent]:
        """``speech_started`` and ``final`` events until the stream is closed and drained."""
        while (event := await self._events.get()) is not None:
            yield event
        self._events.put_nowait(None)  # keep the end visible to a later iterator

    async def aclose(self) -> None:
        """Transcribe the utterance in progress, wait for pending finals, then end ``events``."""
        if self._closed:
            return
        self._closed = True
        try:
            last = self._vad.flush()
            if last is not None:
                self._submit(last.pcm)
            if self._worker is not None:
                self._utterances.put_nowait(None)
                await self._worker
        finally:
            self._events.put_nowait(None)

    def _submit(self, pcm: bytes) -> None:
        if self._worker is None:
            self._worker = asyncio.get_running_loop().create_task(self._run())
        self._utterances.put_nowait(pcm)

    async def _run(self) -> None:
        while (pcm := await self._utterances.get()) is not None:
            try:
                text, confidence = await asyncio.wait_for(
                    self._transcribe(pcm, self._sample_rate), self._timeout
                )
            except Exception as exc:  # TimeoutError included: the caller must be asked again
                seconds = len(pcm) / 2 / self._sample_rate
                why = (
                    f"no result in {self._timeout:g} s"
                    if isinstance(exc, TimeoutError)
                    else failure_cause(exc)
                )
                logger.warning("transcription failed (%s); dropped a %.1f s utterance", why, seconds)
                self._events.put_nowait(TranscriptEvent(kind="failed", text=why))
                continue
            text = text.strip()
            if text:
                self._events.put_nowait(TranscriptEvent(kind="final", text=text, confidence=confidence))
