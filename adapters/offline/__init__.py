"""Offline defaults: the product runs with no API key and no network.

Entry points ``builtin`` (agent), ``espeak`` (TTS) and ``pocketsphinx`` (STT) resolve to the
factories below; each parses its settings section strictly so a typo names its key path.

The built-in agent needs nothing beyond the core, so a markup-only server runs without the
``offline`` extra; the speech engines load theirs (espeak-ng, pocketsphinx) only when created.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from typing import TYPE_CHECKING, Annotated, Any

import msgspec

from telephony.providers import (
    AdapterConfigError,
    SettingsSchema,
    VadSettings,
    declare_settings,
    missing_dependency,
)

from .agent import DEFAULT_GOODBYE, DEFAULT_GREETING, BuiltinAgent

if TYPE_CHECKING:
    from .stt import PocketsphinxSTT
    from .tts import EspeakTTS

_ENGINES = {"PocketsphinxSTT": ".stt", "EspeakTTS": ".tts"}


def _engine_module(name: str) -> Any:
    """Import a speech engine's module; its package comes with the ``offline`` extra."""
    try:
        return importlib.import_module(_ENGINES[name], __name__)
    except ModuleNotFoundError as exc:
        if exc.name and exc.name.split(".")[0] in ("pocketsphinx", "espeakng_loader"):
            raise missing_dependency(exc, "offline") from None
        raise


def __getattr__(name: str) -> Any:
    if name in _ENGINES:
        return getattr(_engine_module(name), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "AGENT_SETTINGS", "ESPEAK_SETTINGS", "POCKETSPHINX_SETTINGS",
    "AgentSettings", "BuiltinAgent", "EspeakSettings", "EspeakTTS", "PocketsphinxSTT",
    "PocketsphinxSettings", "create_agent", "create_stt", "create_tts",
]  # fmt: skip


class _Settings(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True, rename="camel"):
    """Base of the settings below: unknown keys are errors, keys are camelCase."""


class AgentSettings(_Settings, frozen=True, kw_only=True):
    """Settings section ``builtin``."""

    greeting: Annotated[str, msgspec.Meta(min_length=1)] = DEFAULT_GREETING
    goodbye: Annotated[str, msgspec.Meta(min_length=1)] = DEFAULT_GOODBYE


class EspeakSettings(_Settings, frozen=True, kw_only=True):
    """Settings section ``espeak``; ``rate`` is in words per minute."""

    voice: Annotated[str, msgspec.Meta(min_length=1)] = "en-us"
    rate: Annotated[int, msgspec.Meta(ge=80, le=450)] = 175


class PocketsphinxSettings(_Settings, frozen=True, kw_only=True):
    """Settings section ``pocketsphinx``: segmentation under ``vad``, decoder process count."""

    vad: VadSettings = msgspec.field(default_factory=VadSettings)
    workers: Annotated[int, msgspec.Meta(ge=1, le=64)] = 1


AGENT_SETTINGS: SettingsSchema[AgentSettings] = SettingsSchema("builtin", AgentSettings)
ESPEAK_SETTINGS: SettingsSchema[EspeakSettings] = SettingsSchema("espeak", EspeakSettings)
POCKETSPHINX_SETTINGS: SettingsSchema[PocketsphinxSettings] = SettingsSchema(
    "pocketsphinx", PocketsphinxSettings
)


@declare_settings(AGENT_SETTINGS)
def create_agent(settings: Mapping[str, Any]) -> BuiltinAgent:
    """Entry point ``telephony.agents:builtin``."""
    parsed = AGENT_SETTINGS.parse(settings)
    return BuiltinAgent(greeting=parsed.greeting, goodbye=parsed.goodbye)


@declare_settings(ESPEAK_SETTINGS)
def create_tts(settings: Mapping[str, Any]) -> EspeakTTS:
    """Entry point ``telephony.tts:espeak``; loads the voice now so a bad name fails at startup."""
    parsed = ESPEAK_SETTINGS.parse(settings)
    tts: EspeakTTS = _engine_module("EspeakTTS").EspeakTTS(voice=parsed.voice, rate=parsed.rate)
    try:
        tts.check()
    except ValueError as exc:
        raise AdapterConfigError(f"espeak.voice: {exc}", path="espeak.voice") from None
    return tts


@declare_settings(POCKETSPHINX_SETTINGS)
def create_stt(settings: Mapping[str, Any]) -> PocketsphinxSTT:
    """Entry point ``telephony.stt:pocketsphinx``; the model loads when the first stream opens."""
    parsed = POCKETSPHINX_SETTINGS.parse(settings)
    stt: PocketsphinxSTT = _engine_module("PocketsphinxSTT").PocketsphinxSTT(
        vad=parsed.vad, workers=parsed.workers
    )
    return stt
