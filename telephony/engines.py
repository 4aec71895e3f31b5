"""Choose the carrier, agent and speech engines named in config, through the adapter registry.

``auto`` picks OpenAI when a key is configured and the offline engines otherwise, so the
product runs with no keys and no network.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import msgspec

from providers import (
    AGENTS,
    CARRIERS,
    STT,
    TTS,
    Agent,
    Carrier,
    CarrierContext,
    SpeechToText,
    TextToSpeech,
    load,
)

if TYPE_CHECKING:
    from .config import Config

OFFLINE = {AGENTS: "builtin", TTS: "espeak", STT: "pocketsphinx"}


def _choice(config: Config, group: str, configured: str | None) -> str:
    if configured and configured != "auto":
        return configured
    return "openai" if config.openai.api_key else OFFLINE[group]


def _settings(config: Config, name: str) -> dict[str, Any]:
    """The config section an engine reads: ``openai`` for OpenAI (plus the TTS voice)."""
    if name != "openai":
        return {}
    settings: dict[str, Any] = msgspec.to_builtins(config.openai)
    if config.tts.voice:
        settings.setdefault("voice", config.tts.voice)
    return {key: value for key, value in settings.items() if value is not None}


def load_agent(config: Config) -> Agent:
    name = _choice(config, AGENTS, config.agent)
    agent: Agent = load(AGENTS, name)(_settings(config, name))
    return agent


def load_tts(config: Config) -> TextToSpeech:
    name = _choice(config, TTS, config.tts_engine)
    tts: TextToSpeech = load(TTS, name)(_settings(config, name))
    return tts


def load_stt(config: Config) -> SpeechToText:
    name = _choice(config, STT, config.streaming.provider or config.stt)
    stt: SpeechToText = load(STT, name)(_settings(config, name))
    return stt


def load_carrier(config: Config, context: CarrierContext) -> Carrier:
    """The carrier adapter named by ``provider``, given its own config section."""
    name = "local" if config.provider == "mock" else config.provider
    section = getattr(config, name, None) if name in ("twilio", "telnyx", "plivo") else None
    settings = msgspec.to_builtins(section) if section is not None else config.carriers.get(name, {})
    carrier: Carrier = load(CARRIERS, name)(settings, context)
    return carrier
