"""Typed configuration: one JSON, TOML or YAML file plus environment variables for secrets.

The file may hold either the bare openclaw ``voice-call`` plugin config object, or a whole
openclaw config file, in which case the plugin config is read from
``plugins.entries.voice-call.config``. Every openclaw key is accepted unchanged (including the
January legacy keys); a few keys of our own are added (``agent``, ``stt``, ``ttsEngine``,
``controlToken``, ``logging``, ``metrics``, ``noInputRetries``, ``gatherTimeoutSeconds``,
``language``, ``carriers``, ``engines``).

The core names no carrier: adapter sections (openclaw's top-level carrier sections, ``openai``)
are kept raw and belong to the adapter named like them, which declares their schema and
environment variables (see :mod:`telephony.plugins`).

File keys are camelCase; attributes are snake_case. Unknown keys are rejected, and every error
names the key path the way the user wrote it (``serve.port: expected int, got str``).

The package is split by concern: :mod:`.schema` (the keys), :mod:`.files` (file formats),
:mod:`.sources` (openclaw unwrapping, adapter sections, overrides), :mod:`.environment` (the
core's variables and those each adapter in use declares), :mod:`.errors` (wording) and
:mod:`.loading` (putting them together).
"""

from __future__ import annotations

from .errors import ConfigError
from .loading import config_from_mapping, load_config
from .schema import (
    E164,
    Config,
    LoggingConfig,
    MetricsConfig,
    NumberConfig,
    OutboundConfig,
    RealtimeConfig,
    ServeConfig,
    StreamingConfig,
    TailscaleConfig,
    TtsConfig,
    TunnelConfig,
    WebhookSecurityConfig,
)

__all__ = [
    "E164",
    "Config",
    "ConfigError",
    "LoggingConfig",
    "MetricsConfig",
    "NumberConfig",
    "OutboundConfig",
    "RealtimeConfig",
    "ServeConfig",
    "StreamingConfig",
    "TailscaleConfig",
    "TtsConfig",
    "TunnelConfig",
    "WebhookSecurityConfig",
    "config_from_mapping",
    "load_config",
]
