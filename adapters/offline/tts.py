"""Offline speech synthesis with espeak-ng, loaded from the ``espeakng-loader`` wheel.

espeak-ng keeps one global engine per process and is not thread-safe, so every call into it
holds :data:`_LOCK`; synthesis runs in a worker thread so the event loop never blocks.
"""

from __future__ import annotations

import asyncio
import ctypes
import re
import threading
from collections.abc import AsyncIterator

import espeakng_loader

from telephony.providers import SynthesizedAudio

__all__ = ["EspeakTTS"]

# Constants from espeak-ng's speak_lib.h.
_AUDIO_OUTPUT_SYNCHRONOUS = 2
_INITIALIZE_DONT_EXIT = 0x8000  # report errors instead of calling exit()
_POS_CHARACTER = 1
_CHARS_UTF8 = 1  # plain text: never SSML, so a "<" from an agent is spoken, not parsed
_PARAM_RATE = 1
_BUFFER_MS = 100

_SynthCallback = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.c_void_p)


class _VoiceProperties(ctypes.Structure):
    """espeak_VOICE, used to select a voice by language code when no voice has that name."""

    _fields_ = [
        ("name", ctypes.c_char_p),
        ("languages", ctypes.c_char_p),
        ("identifier", ctypes.c_char_p),
        ("gender", ctypes.c_ubyte),
        ("age", ctypes.c_ubyte),
        ("variant", ctypes.c_ubyte),
        ("xx1", ctypes.c_ubyte),
        ("score", ctypes.c_int),
        ("spare", ctypes.c_void_p),
    ]


_LOCK = threading.Lock()
_SENTENCE_END = re.compile(r"(?<=[.!?;:])\s+|\n+")


class _Engine:
    """The process-wide espeak-ng instance; only touched with :data:`_LOCK` held."""

    def __init__(self) -> None:
        lib = ctypes.CDLL(espeakng_loader.get_library_path())
        lib.espeak_Initialize.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
        lib.espeak_Initialize.restype = ctypes.c_int
        lib.espeak_SetSynthCallback.argtypes = [_SynthCallback]
        lib.espeak_SetSynthCallback.restype = None
        lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
        lib.espeak_SetVoiceByName.restype = ctypes.c_int
        lib.espeak_SetVoiceByProperties.argtypes = [ctypes.POINTER(_VoiceProperties)]
        lib.espeak_SetVoiceByProperties.restype = ctypes.c_int
        lib.espeak_SetParameter.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int]
        lib.espeak_SetParameter.restype = ctypes.c_int
        lib.espeak_Synth.argtypes = [
            ctypes.c_void_p, ctypes.c_size_t, ctypes.c_uint, ctypes.c_int,
            ctypes.c_uint, ctypes.c_uint, ctypes.c_void_p, ctypes.c_void_p,
        ]  # fmt: skip
        lib.espeak_Synth.restype = ctypes.c_int
        data_path = espeakng_loader.get_data_path().encode()
        rate = lib.espeak_Initialize(_AUDIO_OUTPUT_SYNCHRONOUS, _BUFFER_MS, data_path, _INITIALIZE_DONT_EXIT)
        if rate <= 0:
            raise RuntimeError(f"espeak-ng failed to initialize (code {rate})")
        self.sample_rate: int = rate
        self._lib = lib
        self._chunks: list[bytes] = []
        # ctypes frees a callback once unreferenced; keep it for the life of the process.
        self._callback = _SynthCallback(self._on_audio)
        lib.espeak_SetSynthCallback(self._callback)
        self._voice: str | None = None
        self._rate: int | None = None

    def _on_audio(self, wav: ctypes._Pointer[ctypes.c_short], samples: int, _events: int | None) -> int:
        if samples > 0 and ctypes.cast(wav, ctypes.c_void_p).value is not None:  # None: a NULL pointer
            self._chunks.append(ctypes.string_at(wav, samples * 2))
        return 0  # 0 = keep synthesizing

    def configure(self, voice: str, rate: int) -> None:
        """Switch voice and speed only when they differ: loading a voice reads data files."""
        if voice != self._voice:
            # Names ("en-us", "en-us+m3") first, then language codes ("en-gb") that name no file.
            if self._lib.espeak_SetVoiceByName(voice.encode()) != 0:
                wanted = _VoiceProperties(languages=voice.encode())
                if self._lib.espeak_SetVoiceByProperties(ctypes.byref(wanted)) != 0:
                    self._voice = None
                    raise ValueError(f"espeak-ng has no voice or language {voice!r}")
            self._voice = voice
            self._rate = None  # a new voice resets the rate
        if rate != self._rate:
            self._lib.espeak_SetParameter(_PARAM_RATE, rate, 0)
            self._rate = rate

    def synth(self, text: str) -> bytes:
        """Synthesize ``text`` completely and return PCM16 at :attr:`sample_rate`."""
        data = text.encode() + b"\0"
        self._chunks = []
        code = self._lib.espeak_Synth(data, len(data), 0, _POS_CHARACTER, 0, _CHARS_UTF8, None, None)
        if code != 0:
            raise RuntimeError(f"espeak-ng synthesis failed (code {code})")
        pcm = b"".join(self._chunks)
        self._chunks = []
        return pcm


_engine: _Engine | None = None


def _get_engine() -> _Engine:
    """The lazily created engine; the caller holds :data:`_LOCK`."""
    global _engine
    if _engine is None:
        _engine = _Engine()
    return _engine


def split_sentences(text: str) -> list[str]:
    """Split text at sentence punctuation so the first sentence can play while the rest waits."""
    return [part.strip() for part in _SENTENCE_END.split(text) if part.strip()]


class EspeakTTS:
    """:class:`~providers.TextToSpeech` with espeak-ng: robotic but instant, offline and free.

    Yields PCM16 at espeak's native rate (22050 Hz); resampling to the carrier is the core's job.

    Args:
        voice: An espeak-ng voice name, such as ``en-us`` or ``en-gb``.
        rate: Speaking rate in words per minute (espeak accepts 80-450).
        chunk_ms: Size of the yielded chunks.
    """

    def __init__(self, *, voice: str = "en-us", rate: int = 175, chunk_ms: int = 100) -> None:
        self.voice = voice
        self.rate = rate
        self.chunk_ms = chunk_ms

    @property
    def sample_rate(self) -> int:
        """espeak-ng's native output rate (initializes the engine on first use)."""
        with _LOCK:
            return _get_engine().sample_rate

    def check(self) -> None:
        """Load the engine and the voice now, so a bad voice fails at startup, not mid-call."""
        with _LOCK:
            _get_engine().configure(self.voice, self.rate)

    async def synthesize(self, text: str) -> AsyncIterator[SynthesizedAudio]:
        """Yield the speech for ``text`` sentence by sentence, in ``chunk_ms`` pieces."""
        for sentence in split_sentences(text):
            pcm, rate = await asyncio.to_thread(self._synth_blocking, sentence)
            step = max(2, rate * self.chunk_ms // 1000 * 2)
            for start in range(0, len(pcm), step):
                yield SynthesizedAudio(pcm[start : start + step], rate)

    def _synth_blocking(self, sentence: str) -> tuple[bytes, int]:
        with _LOCK:
            engine = _get_engine()
            engine.configure(self.voice, self.rate)
            return engine.synth(sentence), engine.sample_rate
