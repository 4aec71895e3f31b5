"""Offline speech recognition with pocketsphinx and its bundled US-English model.

Pocketsphinx decodes whole utterances here; :class:`providers.SegmentingTranscriptionStream`
cuts the caller's audio into them. Accuracy is modest, but it needs no key and no network.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from typing import Any

import pocketsphinx

from providers import TranscriptionStream
from providers._segmenter import SegmentingTranscriptionStream, VadSettings

__all__ = ["PocketsphinxSTT"]

logger = logging.getLogger(__name__)


class PocketsphinxSTT:
    """:class:`~providers.SpeechToText` backed by one pocketsphinx decoder per instance.

    The decoder takes about 0.3 s to load, so it is created once (on the first
    :meth:`open_stream`, off the event loop) and shared by every stream; a lock serializes
    decoding because a decoder holds one utterance at a time.

    Args:
        vad: Utterance segmentation thresholds.
        decoder_options: Extra pocketsphinx ``Config`` options (``hmm``, ``lm``, ``dict``...).
    """

    sample_rate = 16000

    def __init__(
        self, *, vad: VadSettings | None = None, decoder_options: dict[str, Any] | None = None
    ) -> None:
        self.vad = vad or VadSettings()
        self._options: dict[str, Any] = {"loglevel": "FATAL", **(decoder_options or {})}
        self._decoder: Any = None
        self._lock = threading.Lock()

    async def open_stream(self, *, language: str = "en-US") -> TranscriptionStream:
        """Open a stream that takes PCM16 at 16 kHz."""
        if not language.lower().startswith("en"):
            logger.warning(
                "pocketsphinx only has an English model; transcribing %s audio as English", language
            )
        await asyncio.to_thread(self._load)
        return SegmentingTranscriptionStream(self.transcribe, self.sample_rate, vad=self.vad)

    async def transcribe(self, pcm: bytes, sample_rate: int) -> tuple[str, float | None]:
        """Recognize one utterance of PCM16 in a worker thread; returns text and posterior."""
        if sample_rate != self.sample_rate:
            raise ValueError(f"pocketsphinx expects {self.sample_rate} Hz PCM, got {sample_rate} Hz")
        return await asyncio.to_thread(self._decode, pcm)

    def _load(self) -> Any:
        with self._lock:
            if self._decoder is None:
                self._decoder = pocketsphinx.Decoder(**self._options)
            return self._decoder

    def _decode(self, pcm: bytes) -> tuple[str, float | None]:
        decoder = self._load()
        with self._lock:
            decoder.start_utt()
            decoder.process_raw(pcm, no_search=False, full_utt=True)
            decoder.end_utt()
            hyp = decoder.hyp()
        if hyp is None:
            return "", None
        # The posterior is rough for short utterances, but it orders hypotheses sensibly.
        confidence = min(1.0, max(0.0, float(hyp.prob)))
        return str(hyp.hypstr), confidence
