"""Text-to-speech through OpenAI's speech endpoint, streamed as raw PCM.

``response_format="pcm"`` is headerless 24 kHz signed 16-bit mono little-endian audio, exactly
the contract's :class:`providers.SynthesizedAudio`, so chunks can be forwarded as they arrive
and playback starts before the whole sentence is synthesized.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from telephony.providers import SynthesizedAudio, TextToSpeech

from ._client import ClientHolder, OpenAISettings, raise_api_error

SAMPLE_RATE = 24000
"""OpenAI's fixed rate for ``pcm`` output."""


class OpenAITTS(TextToSpeech):
    """Streams synthesized speech chunk by chunk.

    Args:
        settings: The parsed ``openai`` section (``ttsModel``, ``voice``, ``instructions``,
            ``speed``).
    """

    sample_rate = SAMPLE_RATE

    def __init__(self, settings: OpenAISettings) -> None:
        self._settings = settings
        self._holder = ClientHolder(settings)

    async def synthesize(self, text: str) -> AsyncIterator[SynthesizedAudio]:
        """Yield 24 kHz PCM chunks; every chunk holds whole 16-bit samples.

        Network chunks can split a sample, so an odd trailing byte is carried into the next
        chunk rather than emitted.

        Raises:
            OpenAIAdapterError: The API failed before or while streaming.
        """
        if not text.strip():
            return
        import openai

        settings = self._settings
        extra: dict[str, Any] = {}  # only what is set: the "omitted" sentinel differs across SDK versions
        if settings.instructions:
            extra["instructions"] = settings.instructions
        if settings.speed is not None:
            extra["speed"] = settings.speed
        carry = b""
        try:
            async with self._holder.client.audio.speech.with_streaming_response.create(
                model=settings.tts_model,
                voice=settings.voice,
                input=text,
                response_format="pcm",
                **extra,
            ) as response:
                async for chunk in response.iter_bytes():
                    data = carry + chunk
                    usable = len(data) - len(data) % 2
                    carry = data[usable:]
                    if usable:
                        yield SynthesizedAudio(data[:usable], SAMPLE_RATE)
        except openai.OpenAIError as exc:
            raise_api_error("OpenAI speech synthesis", exc)

    async def aclose(self) -> None:
        """Release the HTTP connection pool."""
        await self._holder.aclose()
