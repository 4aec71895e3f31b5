"""Settings and the shared, lazily built ``AsyncOpenAI`` client of the OpenAI adapters.

The SDK is imported on first use only: importing the framework (and resolving entry points)
must stay fast, and a deployment that never calls OpenAI should never pay for the import.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import msgspec

from telephony.providers import (
    HttpUrl,
    SettingsSchema,
    TelephonyError,
    VadSettings,
    require_module,
)

if TYPE_CHECKING:
    from openai import AsyncOpenAI

SECTION = "openai"
API_KEY_ENV = "OPENAI_API_KEY"
MAX_RETRIES = 1
"""One retry smooths over a blip; more would leave a caller listening to silence."""

_KEY_PATTERN = re.compile(r"sk-[A-Za-z0-9_\-*.]+")


class OpenAISettings(msgspec.Struct, kw_only=True, rename="camel", frozen=True, forbid_unknown_fields=True):
    """The ``openai`` config section, shared by the agent, TTS and STT factories.

    One struct serves all three, so each ignores the keys it does not use, and a misspelled key
    is still an error that names the nearest one.

    Attributes:
        api_key: Secret API key (env ``OPENAI_API_KEY``, filled in by the core). Masked in
            ``repr``.
        base_url: API origin for proxies or OpenAI-compatible servers.
        model: Chat Completions model used by the agent.
        tts_model: Speech model used by text-to-speech.
        voice: Voice name used by text-to-speech.
        stt_model: Transcription model used by speech-to-text.
        system_prompt: Replaces the built-in phone-call prompt; call details are still appended.
        timeout_seconds: Per-request timeout.
        instructions: Speaking-style guidance for ``gpt-4o-mini-tts``.
        speed: Speech speed (0.25 to 4.0).
        vad: Utterance segmentation of speech-to-text (the endpoint needs whole utterances).
    """

    api_key: Annotated[str, msgspec.Meta(min_length=1)]
    base_url: HttpUrl | None = None
    model: str = "gpt-4o-mini"
    tts_model: str = "gpt-4o-mini-tts"
    voice: str = "alloy"
    stt_model: str = "gpt-4o-transcribe"
    system_prompt: str | None = None
    timeout_seconds: Annotated[float, msgspec.Meta(gt=0)] = 30.0
    instructions: str | None = None
    speed: Annotated[float, msgspec.Meta(ge=0.25, le=4.0)] | None = None
    vad: VadSettings | None = None

    def __repr__(self) -> str:
        """Show every field but the key, so settings can be logged safely."""
        fields = ", ".join(
            f"{name}={'***' if name == 'api_key' and value else repr(value)}"
            for name in self.__struct_fields__
            for value in (getattr(self, name),)
        )
        return f"OpenAISettings({fields})"


class OpenAIAdapterError(TelephonyError):
    """An OpenAI request failed; the core treats it like any engine failure and falls back."""


OPENAI_SETTINGS: SettingsSchema[OpenAISettings] = SettingsSchema(
    SECTION, OpenAISettings, env={"apiKey": API_KEY_ENV}
)
"""What the three factories declare to the core: the section's schema and ``OPENAI_API_KEY``."""


def load_settings(settings: Mapping[str, Any] | None) -> OpenAISettings:
    """Parse the ``openai`` section, naming bad keys as ``openai.<key>``.

    A missing key is an error here, when the engine is built at start-up, rather than on the
    first request of the first call.
    """
    return OPENAI_SETTINGS.parse(settings or {})


def redact(text: str) -> str:
    """Mask anything that looks like an API key before it reaches a log or an exception."""
    return _KEY_PATTERN.sub("sk-***", text)


def raise_api_error(what: str, exc: Exception) -> NoReturn:
    """Re-raise an SDK error as :class:`OpenAIAdapterError` with a short, secret-free message."""
    import openai

    if isinstance(exc, openai.APIStatusError):
        detail = f"HTTP {exc.status_code}"
        if exc.request_id:
            detail += f", request id {exc.request_id}"
        message = f"{what} failed ({detail}): {redact(exc.message)}"
    elif isinstance(exc, openai.APITimeoutError):
        message = f"{what} timed out"
    elif isinstance(exc, openai.APIConnectionError):
        message = f"{what} failed: could not reach the OpenAI API ({redact(str(exc))})"
    else:
        message = f"{what} failed: {redact(str(exc))}"
    raise OpenAIAdapterError(message) from exc


class ClientHolder:
    """Owns one pooled ``AsyncOpenAI`` client per adapter instance, built on first use.

    The key is checked at construction so a misconfiguration fails when the adapter is created,
    not in the middle of the first call.
    """

    def __init__(self, settings: OpenAISettings) -> None:
        require_module("openai", "openai")
        self._settings = settings
        self._api_key = settings.api_key.strip()
        self._client: AsyncOpenAI | None = None

    @property
    def client(self) -> AsyncOpenAI:
        """The shared client; importing the SDK happens here, once."""
        if self._client is None:
            from openai import AsyncOpenAI

            self._client = AsyncOpenAI(
                api_key=self._api_key,
                base_url=self._settings.base_url,
                timeout=self._settings.timeout_seconds,
                max_retries=MAX_RETRIES,
            )
        return self._client

    async def aclose(self) -> None:
        """Close the connection pool; the next use builds a fresh client."""
        client, self._client = self._client, None
        if client is not None:
            await client.close()

    def __repr__(self) -> str:
        return f"ClientHolder(base_url={self._settings.base_url!r})"
