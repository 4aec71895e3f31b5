"""Offline speech recognition with pocketsphinx and its bundled US-English model.

Pocketsphinx decodes whole utterances here; :class:`providers.SegmentingTranscriptionStream`
cuts the caller's audio into them. Accuracy is modest, but it needs no key and no network.

The decoder runs in a worker *process*, not a thread: the pocketsphinx binding holds the GIL
while it decodes (about 0.2 s per second of speech), which from a thread would freeze the event
loop, and every call's media with it, for that long.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import signal
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any, TypeVar

import pocketsphinx

from telephony.providers import SegmentingTranscriptionStream, TranscriptionStream, VadSettings

__all__ = ["PocketsphinxSTT"]

logger = logging.getLogger(__name__)
T = TypeVar("T")

# ---------------------------------------------------------------- worker process side

_decoder: Any = None


def _load_decoder(options: dict[str, Any]) -> None:
    """Worker initializer: load the model once per worker process."""
    global _decoder
    # Ctrl-C is the parent's to handle; the worker just dies with it, without a traceback.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _decoder = pocketsphinx.Decoder(**options)


def _ready() -> bool:
    return _decoder is not None


def _decode(pcm: bytes) -> tuple[str, float | None]:
    _decoder.start_utt()
    # full_utt lets pocketsphinx normalize over the whole utterance (batch CMN), which is
    # markedly more accurate than feeding it chunk by chunk.
    _decoder.process_raw(pcm, no_search=False, full_utt=True)
    _decoder.end_utt()
    hyp = _decoder.hyp()
    if hyp is None:
        return "", None
    # The posterior is rough for short utterances, but it orders hypotheses sensibly.
    return str(hyp.hypstr), min(1.0, max(0.0, float(hyp.prob)))


# ---------------------------------------------------------------- event loop side


class PocketsphinxSTT:
    """:class:`~providers.SpeechToText` backed by pocketsphinx in worker processes.

    The model takes about 0.4 s to load, so each worker loads it once, when the first stream
    opens, and then serves every stream of this instance; each worker decodes one utterance at
    a time, and more workers let concurrent calls decode in parallel. Workers are started with
    the ``spawn`` method, so a script using this adapter needs the usual
    ``if __name__ == "__main__":`` guard (console scripts and ``python -m`` already have it).

    Args:
        vad: Utterance segmentation thresholds.
        workers: Decoder processes (each holds its own copy of the model, about 40 MB).
        decoder_options: Extra pocketsphinx ``Config`` options (``hmm``, ``lm``, ``dict``...).
    """

    sample_rate = 16000

    def __init__(
        self,
        *,
        vad: VadSettings | None = None,
        workers: int = 1,
        decoder_options: dict[str, Any] | None = None,
    ) -> None:
        self.vad = vad or VadSettings()
        self.workers = workers
        self._options: dict[str, Any] = {"loglevel": "FATAL", **(decoder_options or {})}
        self._pool: ProcessPoolExecutor | None = None

    async def open_stream(self, *, language: str = "en-US") -> TranscriptionStream:
        """Open a stream that takes PCM16 at 16 kHz (starting the workers if needed)."""
        if not language.lower().startswith("en"):
            logger.warning(
                "pocketsphinx has only an English model; transcribing %s audio as English", language
            )
        await self._run(_ready)
        return SegmentingTranscriptionStream(self.transcribe, self.sample_rate, vad=self.vad)

    async def transcribe(self, pcm: bytes, sample_rate: int) -> tuple[str, float | None]:
        """Recognize one utterance of PCM16; returns the text and the decoder's posterior."""
        if sample_rate != self.sample_rate:
            raise ValueError(f"pocketsphinx expects {self.sample_rate} Hz PCM, got {sample_rate} Hz")
        return await self._run(_decode, pcm)

    async def aclose(self) -> None:
        """Stop the worker processes (they also stop at interpreter exit)."""
        pool, self._pool = self._pool, None
        if pool is not None:
            await asyncio.to_thread(pool.shutdown, wait=True, cancel_futures=True)

    async def _run(self, function: Callable[..., T], *args: Any) -> T:
        if self._pool is None:
            # "spawn" because forking a process that runs an event loop and threads is unsafe.
            self._pool = ProcessPoolExecutor(
                self.workers,
                mp_context=multiprocessing.get_context("spawn"),
                initializer=_load_decoder,
                initargs=(self._options,),
            )
        try:
            return await asyncio.get_running_loop().run_in_executor(self._pool, function, *args)
        except BrokenProcessPool:
            # A worker died (killed, out of memory, bad model path): start fresh next time.
            broken, self._pool = self._pool, None
            if broken is not None:
                broken.shutdown(wait=False)
            raise RuntimeError("the pocketsphinx worker process died") from None
