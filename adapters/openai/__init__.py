"""OpenAI engines: a Chat Completions agent, streaming text-to-speech and transcription.

Registered as ``openai`` in the ``telephony.agents``, ``telephony.tts`` and ``telephony.stt``
entry-point groups. Every factory takes the same ``openai`` settings mapping and ignores the
keys it does not use, and declares :data:`OPENAI_SETTINGS` (schema and ``OPENAI_API_KEY``) to
the core. The ``openai`` SDK is imported on first request, not here.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from telephony.providers import declare_settings

from ._client import OPENAI_SETTINGS, OpenAIAdapterError, OpenAISettings, load_settings
from .agent import OpenAIAgent
from .stt import OpenAISTT
from .tts import OpenAITTS

__all__ = [
    "OPENAI_SETTINGS",
    "OpenAIAdapterError",
    "OpenAIAgent",
    "OpenAISTT",
    "OpenAISettings",
    "OpenAITTS",
    "create_agent",
    "create_stt",
    "create_tts",
]


@declare_settings(OPENAI_SETTINGS)
def create_agent(settings: Mapping[str, Any] | None = None) -> OpenAIAgent:
    """Entry point ``telephony.agents:openai``.

    Raises:
        AdapterConfigError: A setting is malformed or no API key is configured.
    """
    return OpenAIAgent(load_settings(settings))


@declare_settings(OPENAI_SETTINGS)
def create_tts(settings: Mapping[str, Any] | None = None) -> OpenAITTS:
    """Entry point ``telephony.tts:openai``.

    Raises:
        AdapterConfigError: A setting is malformed or no API key is configured.
    """
    return OpenAITTS(load_settings(settings))


@declare_settings(OPENAI_SETTINGS)
def create_stt(settings: Mapping[str, Any] | None = None) -> OpenAISTT:
    """Entry point ``telephony.stt:openai``.

    Raises:
        AdapterConfigError: A setting is malformed or no API key is configured.
    """
    return OpenAISTT(load_settings(settings))
