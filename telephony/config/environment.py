"""The environment overlay: variables fill what the config leaves unset; a value in the file wins.

The core's own variables fill core keys. Each adapter declares the variables of its own section
in its :class:`~telephony.providers.SettingsSchema`; they fill the sections of the adapters the
config selects, found through the registry, so the core names none of them.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any, Final

from telephony.providers import (
    AGENTS,
    CARRIERS,
    STT,
    TTS,
    SettingsSchema,
    declared_settings,
    load,
)

from .schema import Config

__all__ = [
    "AUTO_PREFERENCE",
    "CORE_ENVIRONMENT",
    "NOT_FOR_CALLS",
    "apply_core_environment",
    "declared_schema",
    "selected_adapters",
    "stt_key",
    "tts_choice",
    "with_adapter_environment",
]

CORE_ENVIRONMENT: Final[tuple[tuple[str, tuple[str, ...]], ...]] = (
    ("NGROK_AUTHTOKEN", ("tunnel", "ngrokAuthToken")),
    ("NGROK_DOMAIN", ("tunnel", "ngrokDomain")),
    ("TELEPHONY_CONTROL_TOKEN", ("controlToken",)),
    ("TELEPHONY_LOG_FORMAT", ("logging", "format")),
    ("TELEPHONY_PUBLIC_URL", ("publicUrl",)),
)
"""Variables that fill core keys the file leaves unset: (variable, camelCase key path).

Adapters declare their own (``TWILIO_AUTH_TOKEN``, ``OPENAI_API_KEY``) in their settings schema;
see :func:`with_adapter_environment`.
"""

AUTO_PREFERENCE: Final = "openai"
"""The engine ``auto`` takes when its settings are complete; otherwise the offline one."""

NOT_FOR_CALLS: Final = frozenset({"edge", "microsoft"})
"""openclaw ``tts.provider`` names that openclaw itself never uses on calls (it falls back)."""


def apply_core_environment(raw: dict[str, Any], env: Mapping[str, str]) -> None:
    """Fill unset (missing, null or empty) core keys from the environment, in place."""
    for variable, key_path in CORE_ENVIRONMENT:
        value = env.get(variable)
        if not value:
            continue
        node: Any = raw
        for key in key_path[:-1]:
            if node.get(key) in (None, ""):
                node[key] = {}
            node = node[key]
            if not isinstance(node, dict):
                break
        else:
            if node.get(key_path[-1]) in (None, ""):
                node[key_path[-1]] = value


def stt_key(config: Config) -> str:
    """The key that names the STT engine: ``streaming.provider`` wins over ``stt`` when set."""
    return "streaming.provider" if config.streaming.provider else "stt"


def tts_choice(config: Config) -> tuple[str, str]:
    """``(config key, engine name)`` of the TTS engine: ``ttsEngine``, else openclaw's ``tts.provider``.

    ``ttsEngine`` set to anything but ``auto`` wins. Otherwise ``tts.provider`` (openclaw's key,
    also read from ``messages.tts``) names the engine, except the providers openclaw does not use
    on calls either (:data:`NOT_FOR_CALLS`), which leave the choice to ``auto``.
    """
    provider = config.tts.provider
    if config.tts_engine == "auto" and provider and provider not in NOT_FOR_CALLS:
        return "tts.provider", provider
    return "ttsEngine", config.tts_engine


def selected_adapters(config: Config) -> Iterator[tuple[str, str, str]]:
    """``(group, config key, name)`` of every adapter the config selects (``auto`` included)."""
    yield CARRIERS, "provider", config.provider
    yield AGENTS, "agent", config.agent
    yield TTS, *tts_choice(config)
    yield STT, stt_key(config), config.streaming.provider or config.stt


def declared_schema(group: str, name: str) -> SettingsSchema[Any] | None:
    """The schema ``name`` declares; ``None`` when it declares none or cannot be loaded now."""
    try:
        return declared_settings(load(group, name))
    except Exception:  # deferred, not hidden: building the adapter at start-up raises it again
        return None


def with_adapter_environment(config: Config, env: Mapping[str, str]) -> Config:
    """Fill the settings of the adapters ``config`` selects from the variables they declare.

    Only keys the config leaves unset (missing, null or empty) are filled: a value in the file
    always wins. ``auto`` engines are filled as :data:`AUTO_PREFERENCE` (its key decides what
    ``auto`` means). An adapter that cannot be loaded now is skipped; starting reports why.
    """
    sections = {name: dict(values) for name, values in config.sections.items()}
    carriers = {name: dict(values) for name, values in config.carriers.items()}
    engines = {name: dict(values) for name, values in config.engines.items()}
    seen: set[tuple[str, str]] = set()
    for group, _key, configured in selected_adapters(config):
        name = AUTO_PREFERENCE if configured == "auto" else configured
        if (group, name) in seen:
            continue
        seen.add((group, name))
        schema = declared_schema(group, name)
        if schema is None:
            continue
        over = carriers if group == CARRIERS else engines
        for key, variable in schema.env.items():
            value = env.get(variable)
            if not value:
                continue
            if key in over.get(name, {}):
                if over[name][key] in (None, ""):
                    over[name][key] = value
            elif sections.get(name, {}).get(key) in (None, ""):
                sections.setdefault(name, {})[key] = value
    return config.replace(sections=sections, carriers=carriers, engines=engines)
