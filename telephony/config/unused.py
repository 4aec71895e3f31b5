"""openclaw keys that are accepted but not acted on, found so start-up can name them once.

Every openclaw key is accepted, so an openclaw file starts unchanged; a key this code base does
not act on yet must still not be ignored silently. :func:`unused_keys` lists those the config
sets to anything but their default, by their key path in the voice-call config.
"""

from __future__ import annotations

from typing import Any, Final

import msgspec

from .environment import NOT_FOR_CALLS
from .schema import Config

__all__ = ["OPENCLAW_OPENAI_TTS_KEYS", "unused_keys"]

_UNUSED: Final[tuple[tuple[str, ...], ...]] = (
    ("outbound", "notifyHangupDelaySec"),
    ("transcriptTimeoutMs",),
    ("record",),
    ("agentId",),
    ("sessionScope",),
    ("numbers",),
    ("sttLegacy",),
    ("tunnel", "provider"),
    ("tunnel", "ngrokAuthToken"),
    ("tunnel", "ngrokDomain"),
    ("tunnel", "allowNgrokFreeTierLoopbackBypass"),
    ("tunnel", "allowNgrokFreeTier"),
    ("tailscale", "mode"),
    ("tailscale", "path"),
    ("streaming", "providers"),
    ("streaming", "sttProvider"),
    ("streaming", "openaiApiKey"),
    ("streaming", "sttModel"),
    ("streaming", "vadThreshold"),
    ("realtime", "enabled"),
    ("realtime", "provider"),
    ("realtime", "streamPath"),
    ("realtime", "instructions"),
    ("realtime", "tools"),
    ("realtime", "providers"),
    ("realtime", "agentContext"),
    ("realtime", "consultPolicy"),
    ("realtime", "brain"),
    ("tts", "timeoutMs"),
    ("tts", "maxTextLength"),
    ("tts", "auto"),
    ("tts", "mode"),
    ("tts", "enabled"),
    ("tts", "summaryModel"),
    ("tts", "modelOverrides"),
    ("tts", "prefsPath"),
    ("tts", "elevenlabs"),
    ("tts", "edge"),
)
"""Key paths (camelCase, as in the file) that nothing reads; ``sttLegacy`` is the ``stt`` object."""

OPENCLAW_OPENAI_TTS_KEYS: Final = {
    "apiKey": "apiKey",
    "baseUrl": "baseUrl",
    "model": "ttsModel",
    "voice": "voice",
    "speed": "speed",
    "instructions": "instructions",
}
"""openclaw's ``tts.providers.openai`` (and flat ``tts.openai``) keys acted on, and the ``openai``
engine settings they fill; the others are listed as unused."""

_DEFAULTS: Final = msgspec.to_builtins(Config())


def unused_keys(config: Config) -> list[str]:
    """The key paths ``config`` sets (to other than their default) that nothing acts on.

    Besides the fixed list: ``tts.provider`` when no TTS engine is built (markup mode, where the
    carrier speaks), when ``ttsEngine`` overrides it, or when it names a provider openclaw does
    not use on calls either; the
    ``tts.providers`` of other engines than OpenAI; and unknown keys of the OpenAI TTS block.
    """
    data: dict[str, Any] = msgspec.to_builtins(config)
    found: list[str] = []
    for path in _UNUSED:
        value, default = _at(data, path), _at(_DEFAULTS, path)
        if value != default:
            found.append("stt" if path == ("sttLegacy",) else ".".join(path))
    provider = config.tts.provider
    chosen_elsewhere = config.tts_engine != "auto" or provider in NOT_FOR_CALLS
    if provider and (chosen_elsewhere or not config.streaming.enabled):
        found.append("tts.provider")
    for name, section in sorted(config.tts.providers.items()):
        if name != "openai":
            found.append(f"tts.providers.{name}")
            continue
        found.extend(f"tts.providers.openai.{key}" for key in section if key not in OPENCLAW_OPENAI_TTS_KEYS)
    found.extend(
        f"tts.openai.{key}" for key in config.tts.openai or {} if key not in OPENCLAW_OPENAI_TTS_KEYS
    )
    return found


def _at(data: Any, path: tuple[str, ...]) -> Any:
    for key in path:
        data = data.get(key) if isinstance(data, dict) else None
    return data
