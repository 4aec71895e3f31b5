"""OpenAI engines: a Chat Completions agent, streaming text-to-speech and transcription.

Registered as ``openai`` in the ``telephony.agents``, ``telephony.tts`` and ``telephony.stt``
entry-point groups. Every factory takes the same ``openai`` settings mapping and ignores the
keys it does not use. The ``openai`` SDK is imported on first request, not here.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ._client import OpenAIAdapterError, OpenAISettings, load_settings
from .agent import OpenAIAgent
from .stt import OpenAISTT
from .tts import OpenAITTS

__all__ = [
    "OpenAIAdapterError",
    "OpenAIAgent",
    "OpenAISTT",
    "OpenAISettings",
    "OpenAITTS",
    "create_agent",
    "create_stt",
    "create_tts",
]


def create_agent(settings: Mapping[str, Any] | None = None) -> OpenAIAgent:
    """Entry point ``telephony.agents:openai``.

    Raises:
        AdapterConfigError: A setting is malformed or no API key is configured.
    """
    return OpenAIAgent(load_settings(settings))


def create_tts(settings: Mapping[str, Any] | None = None) -> OpenAITTS:
    """Entry point ``telephony.tts:openai``.

    Raises:
        AdapterConfigError: A setting is malformed or no API key is configured.
    """
    return OpenAITTS(load_settings(settings))


def create_stt(settings: Mapping[str, Any] | None = None) -> OpenAISTT:
    """Entry point ``telephony.stt:openai``.

    Raises:
        AdapterConfigError: A setting is malformed or no API key is configured.
    """
    return OpenAISTT(load_settings(settings))
