"""Speech-to-text through OpenAI's transcription endpoint, one request per utterance.

The endpoint transcribes whole files, so live audio is cut into utterances by the shared
voice-activity segmenter and each utterance is sent as a small WAV file.
"""

from __future__ import annotations

import io
import wave
from typing import Any

from telephony.providers import SegmentingTranscriptionStream, SpeechToText, TranscriptionStream

from ._client import ClientHolder, OpenAISettings, raise_api_error

SAMPLE_RATE = 16000
"""Speech models work at 16 kHz; a higher rate only makes the upload bigger."""


class OpenAISTT(SpeechToText):
    """Opens segmenting transcription streams backed by ``audio.transcriptions``.

    Args:
        settings: The parsed ``openai`` section (``sttModel``, ``vad``).
    """

    sample_rate = SAMPLE_RATE

    def __init__(self, settings: OpenAISettings) -> None:
        self._settings = settings
        self._holder = ClientHolder(settings)

    async def open_stream(self, *, language: str = "en-US") -> TranscriptionStream:
        """Start a live session: the segmenter finds utterances, each becomes one request.

        Args:
            language: BCP-47 tag of the caller's speech, sent as a hint with every utterance.
        """

        async def transcribe(pcm: bytes, sample_rate: int) -> tuple[str, float | None]:
            return await self.transcribe(pcm, sample_rate, language=language)

        return SegmentingTranscriptionStream(transcribe, self.sample_rate, vad=self._settings.vad)

    async def transcribe(
        self, pcm: bytes, sample_rate: int, *, language: str | None = None
    ) -> tuple[str, float | None]:
        """Transcribe one utterance of 16-bit mono PCM.

        Args:
            pcm: Signed 16-bit little-endian mono samples.
            sample_rate: Rate of ``pcm`` in Hz.
            language: BCP-47 tag such as ``en-US``; its language part is sent as a hint.

        Returns:
            The text and ``None``: the endpoint reports no confidence.

        Raises:
            OpenAIAdapterError: The API failed.
        """
        if len(pcm) < 2:
            return "", None
        import openai

        extra: dict[str, Any] = {}  # only what is set: the "omitted" sentinel differs across SDK versions
        hint = _language_hint(language)
        if hint:
            extra["language"] = hint
        try:
            result = await self._holder.client.audio.transcriptions.create(
                model=self._settings.stt_model,
                file=("speech.wav", to_wav(pcm, sample_rate), "audio/wav"),
                **extra,
            )
        except openai.OpenAIError as exc:
            raise_api_error("OpenAI transcription", exc)
        return result.text.strip(), None

    async def aclose(self) -> None:
        """Release the HTTP connection pool."""
        await self._holder.aclose()


def to_wav(pcm: bytes, sample_rate: int) -> bytes:
    """Wrap raw PCM in a WAV header: the endpoint needs a container to know the format."""
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(sample_rate)
        wav.writeframes(pcm[: len(pcm) - len(pcm) % 2])
    return buffer.getvalue()


def _language_hint(language: str | None) -> str | None:
    """``en-US`` → ``en``: the endpoint takes ISO-639-1 codes only."""
    if not language:
        return None
    primary = language.replace("_", "-").split("-", 1)[0].strip().lower()
    return primary if len(primary) == 2 and primary.isalpha() else None
