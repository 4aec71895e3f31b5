"""Choose the carrier, agent and speech engines named in config, through the adapter registry.

``auto`` picks OpenAI when a key is configured and the offline engines otherwise, so the
product runs with no keys and no network.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import msgspec

from telephony.providers import (
    AGENTS,
    CARRIERS,
    STT,
    TTS,
    AdapterConfigError,
    Agent,
    Carrier,
    CarrierContext,
    SpeechToText,
    TextToSpeech,
    load,
)

if TYPE_CHECKING:
    from .config import Config

DEFAULT_OPENAI_MODEL = "gpt-4o-mini"

VAD_ENGINES = frozenset({"pocketsphinx", "openai"})  # bundled recognizers whose settings take `vad`
OFFLINE = {AGENTS: "builtin", TTS: "espeak", STT: "pocketsphinx"}


def _choice(config: Config, group: str, configured: str | None) -> str:
    if configured and configured != "auto":
        return configured
    return "openai" if config.openai.api_key else OFFLINE[group]


def _settings(config: Config, name: str) -> dict[str, Any]:
    """The settings an engine gets: ``engines.<name>``; for OpenAI also the ``openai`` section.

    openclaw's TTS voice, ``responseSystemPrompt`` and ``responseModel`` fill what the
    ``openai`` section leaves at its defaults.
    """
    settings = dict(config.engines.get(name, {}))
    if name != "openai":
        return settings
    section: dict[str, Any] = {k: v for k, v in msgspec.to_builtins(config.openai).items() if v is not None}
    section.setdefault("voice", config.tts.voice)
    section.setdefault("systemPrompt", config.response_system_prompt)
    model = _openai_model(config.response_model)
    if model and config.openai.model == DEFAULT_OPENAI_MODEL:
        section["model"] = model
    return {k: v for k, v in section.items() if v is not None} | settings


def _openai_model(model: str | None) -> str | None:
    """openclaw names models ``provider/model``; only ``openai/...`` (or a bare name) applies here."""
    if not model:
        return None
    provider, slash, bare = model.partition("/")
    if not slash:
        return model
    return bare if provider == "openai" else None


def _build(group: str, name: str, where: str, *args: Any) -> Any:
    """Call the factory registered as ``name``; settings errors name the key where the user wrote it.

    Adapters name keys by their own section (``espeak.voice``); the user wrote them under
    ``where`` (``engines.espeak.voice``), so the path is rewritten to match the file.
    """
    try:
        return load(group, name)(*args)
    except AdapterConfigError as exc:
        if where == name:
            raise
        message = (
            str(exc)
            .replace(f"invalid {name} settings", f"invalid {where} settings")
            .replace(f"`{name}.", f"`{where}.")
            .replace(f"`{name}`", f"`{where}`")
        )
        raise AdapterConfigError(message) from None


def _engine_path(config: Config, name: str) -> str:
    return "openai" if name == "openai" and name not in config.engines else f"engines.{name}"


def load_agent(config: Config) -> Agent:
    name = _choice(config, AGENTS, config.agent)
    agent: Agent = _build(AGENTS, name, _engine_path(config, name), _settings(config, name))
    return agent


def load_tts(config: Config) -> TextToSpeech:
    name = _choice(config, TTS, config.tts_engine)
    tts: TextToSpeech = _build(TTS, name, _engine_path(config, name), _settings(config, name))
    return tts


def load_stt(config: Config) -> SpeechToText:
    """The recognizer; bundled ones end an utterance after ``silenceTimeoutMs`` of quiet.

    openclaw declared ``silenceTimeoutMs`` (and the legacy ``streaming.silenceDurationMs``) for
    this; an explicit ``vad.silenceMs`` in the engine's own settings still wins.
    """
    name = _choice(config, STT, config.streaming.provider or config.stt)
    settings = _settings(config, name)
    if name in VAD_ENGINES:
        vad = dict(settings.get("vad") or {})
        vad.setdefault("silenceMs", config.streaming.silence_duration_ms or config.silence_timeout_ms)
        settings["vad"] = vad
    stt: SpeechToText = _build(STT, name, _engine_path(config, name), settings)
    return stt


def load_carrier(config: Config, context: CarrierContext) -> Carrier:
    """The carrier adapter named by ``provider``, given its own config section."""
    name = config.provider
    where = name if name in ("twilio", "telnyx", "plivo") else f"carriers.{name}"
    carrier: Carrier = _build(CARRIERS, name, where, config.carrier_settings(), context)
    return carrier
