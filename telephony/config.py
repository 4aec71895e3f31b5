"""Typed configuration: one JSON, TOML or YAML file plus environment variables for secrets.

The file may hold either the bare openclaw ``voice-call`` plugin config object, or a whole
openclaw config file, in which case the plugin config is read from
``plugins.entries.voice-call.config``. Every openclaw key is accepted unchanged (including the
January legacy keys); a few keys of our own are added (``agent``, ``stt``, ``ttsEngine``,
``openai``, ``controlToken``, ``noInputRetries``, ``gatherTimeoutSeconds``, ``language``,
``carriers``).

File keys are camelCase; attributes are snake_case. Unknown keys are rejected, and every error
names the key path the way the user wrote it (``serve.port: expected int, got str``).
"""

from __future__ import annotations

import difflib
import json
import os
import re
import tomllib
import types
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Final, Literal, Union, get_args, get_origin

import msgspec
import yaml

from telephony.providers import TelephonyError

__all__ = [
    "Config",
    "ConfigError",
    "NumberConfig",
    "OpenAISettings",
    "OutboundConfig",
    "PlivoSettings",
    "RealtimeConfig",
    "ServeConfig",
    "StreamingConfig",
    "TailscaleConfig",
    "TelnyxSettings",
    "TtsConfig",
    "TunnelConfig",
    "TwilioSettings",
    "WebhookSecurityConfig",
    "config_from_mapping",
    "load_config",
]

E164_PATTERN: Final = r"^\+[1-9]\d{1,14}$"
_PATH_PATTERN: Final = r"^/"
_URL_PATTERN: Final = r"^https?://[^\s/?#]+[^\s]*$"

E164 = Annotated[str, msgspec.Meta(pattern=E164_PATTERN)]
Port = Annotated[int, msgspec.Meta(ge=1, le=65535)]
UrlPath = Annotated[str, msgspec.Meta(pattern=_PATH_PATTERN)]
HttpUrl = Annotated[str, msgspec.Meta(pattern=_URL_PATTERN)]
NonNegInt = Annotated[int, msgspec.Meta(ge=0)]
PositiveInt = Annotated[int, msgspec.Meta(ge=1)]
NonNegFloat = Annotated[float, msgspec.Meta(ge=0)]
Name = Annotated[str, msgspec.Meta(min_length=1)]

#: Where the plugin config sits inside a whole openclaw config file.
OPENCLAW_CONFIG_PATH: Final = ("plugins", "entries", "voice-call", "config")

#: openclaw provider names that mean our simulated carrier.
_LOCAL_ALIASES: Final = frozenset({"mock", "log"})

#: Environment variables that fill values the file leaves unset: (variable, camelCase key path).
ENV_OVERLAY: Final[tuple[tuple[str, tuple[str, ...]], ...]] = (
    ("TWILIO_ACCOUNT_SID", ("twilio", "accountSid")),
    ("TWILIO_AUTH_TOKEN", ("twilio", "authToken")),
    ("TELNYX_API_KEY", ("telnyx", "apiKey")),
    ("TELNYX_CONNECTION_ID", ("telnyx", "connectionId")),
    ("TELNYX_PUBLIC_KEY", ("telnyx", "publicKey")),
    ("PLIVO_AUTH_ID", ("plivo", "authId")),
    ("PLIVO_AUTH_TOKEN", ("plivo", "authToken")),
    ("OPENAI_API_KEY", ("openai", "apiKey")),
    ("NGROK_AUTHTOKEN", ("tunnel", "ngrokAuthToken")),
    ("NGROK_DOMAIN", ("tunnel", "ngrokDomain")),
    ("TELEPHONY_CONTROL_TOKEN", ("controlToken",)),
    ("TELEPHONY_PUBLIC_URL", ("publicUrl",)),
)

_REDACTED: Final = "***"
_SECRET_SUFFIXES: Final = ("token", "apikey", "secret", "password")


class ConfigError(TelephonyError):
    """The configuration is missing, unreadable or invalid.

    Args:
        message: Names the key path as written in the file (``serve.port: expected int, got str``)
            or the file that could not be read.
        path: The dotted camelCase key path at fault, when there is one.
        source: The config file, when the config came from a file.
    """

    def __init__(self, message: str, *, path: str | None = None, source: str | None = None) -> None:
        super().__init__(message)
        self.path = path
        self.source = source


class _Section(msgspec.Struct, rename="camel", forbid_unknown_fields=True, kw_only=True, frozen=True):
    """Common struct options: camelCase keys, strict, immutable."""


# ---------------------------------------------------------------- sections


class ServeConfig(_Section, frozen=True):
    """The webhook HTTP server.

    Attributes:
        port: TCP port (1..65535).
        bind: Address to listen on.
        path: Webhook path; must start with ``/``.
    """

    port: Port = 3334
    bind: str = "127.0.0.1"
    path: UrlPath = "/voice/webhook"


class TailscaleConfig(_Section, frozen=True):
    """Legacy Tailscale exposure (superseded by ``tunnel.provider``)."""

    mode: Literal["off", "serve", "funnel"] = "off"
    path: UrlPath = "/voice/webhook"


class TunnelConfig(_Section, frozen=True):
    """How the webhook server is exposed when no ``publicUrl`` is set.

    Attributes:
        provider: ``none``, ``ngrok``, ``tailscale-serve`` or ``tailscale-funnel``.
        ngrok_auth_token: Secret (env ``NGROK_AUTHTOKEN``).
        ngrok_domain: Reserved ngrok domain (env ``NGROK_DOMAIN``).
        allow_ngrok_free_tier_loopback_bypass: Trust forwarded headers on loopback.
        allow_ngrok_free_tier: Legacy January key, stored only.
    """

    provider: Literal["none", "ngrok", "tailscale-serve", "tailscale-funnel"] = "none"
    ngrok_auth_token: str | None = None
    ngrok_domain: str | None = None
    allow_ngrok_free_tier_loopback_bypass: bool = False
    allow_ngrok_free_tier: bool | None = None


class WebhookSecurityConfig(_Section, frozen=True):
    """Which forwarding headers to trust when rebuilding the signed webhook URL."""

    allowed_hosts: tuple[str, ...] = ()
    trust_forwarding_headers: bool = False
    trusted_proxy_ips: tuple[str, ...] = msgspec.field(default=(), name="trustedProxyIPs")


class OutboundConfig(_Section, frozen=True):
    """Outbound call behaviour.

    Attributes:
        default_mode: ``notify`` (say, then hang up) or ``conversation`` (multi-turn).
        notify_hangup_delay_sec: Seconds between the notify message and the hang-up.
    """

    default_mode: Literal["notify", "conversation"] = "notify"
    notify_hangup_delay_sec: NonNegFloat = 3.0


class StreamingConfig(_Section, frozen=True):
    """Media streaming with realtime speech recognition.

    Attributes:
        enabled: Use a media stream instead of carrier-side speech recognition.
        stream_path: WebSocket path; must start with ``/``.
        provider: The STT engine name; ``None`` means the first available one.
        providers: Per-engine settings, as written (``openai: {apiKey, model, ...}``).
        pre_start_timeout_ms: How long a socket may stay open before its ``start`` frame.
        max_pending_connections: Sockets waiting for ``start``, in total.
        max_pending_connections_per_ip: Sockets waiting for ``start``, per client address.
        max_connections: Open media sockets in total.
        stt_provider: Legacy January key, stored only.
        openai_api_key: Legacy January key, stored only.
        stt_model: Legacy January key, stored only.
        silence_duration_ms: Legacy January key, stored only.
        vad_threshold: Legacy January key, stored only.
    """

    enabled: bool = False
    stream_path: UrlPath = "/voice/stream"
    provider: str | None = None
    providers: dict[str, dict[str, Any]] = msgspec.field(default_factory=dict)
    pre_start_timeout_ms: PositiveInt = 5000
    max_pending_connections: PositiveInt = 32
    max_pending_connections_per_ip: PositiveInt = 4
    max_connections: PositiveInt = 128
    stt_provider: str | None = None
    openai_api_key: str | None = None
    stt_model: str | None = None
    silence_duration_ms: NonNegInt | None = None
    vad_threshold: float | None = None


class RealtimeConfig(_Section, frozen=True):
    """Speech-to-speech bridge (openclaw ``realtime.*``).

    Attributes:
        enabled: Bridge inbound calls to a realtime voice model.
        provider: Engine name; ``None`` means the first available one.
        stream_path: WebSocket path; ``None`` derives it from ``serve.path``
            (see :attr:`Config.realtime_stream_path`).
        instructions: System instructions for the model.
        tools: Function-tool declarations, as written.
        providers: Per-engine settings, as written.
        agent_context: Later openclaw key, stored as written.
        consult_policy: Later openclaw key, stored as written.
        brain: Later openclaw key, stored as written.
    """

    enabled: bool = False
    provider: str | None = None
    stream_path: UrlPath | None = None
    instructions: str | None = None
    tools: tuple[dict[str, Any], ...] = ()
    providers: dict[str, dict[str, Any]] = msgspec.field(default_factory=dict)
    agent_context: Any = None
    consult_policy: Any = None
    brain: Any = None


class TtsConfig(_Section, frozen=True):
    """Text-to-speech settings (openclaw ``tts.*``, deep-merged over ``messages.tts``).

    Attributes:
        provider: Preferred TTS provider name (``openai``, ``elevenlabs``, ...).
        providers: Per-provider settings as written, e.g.
            ``openai: {apiKey, baseUrl, model, voice, speed, instructions}``.
        openai: Legacy flat ``tts.openai`` block, stored only.
        elevenlabs: Legacy flat ``tts.elevenlabs`` block, stored only.
        edge: Legacy flat ``tts.edge`` block, stored only.
    """

    provider: str | None = None
    providers: dict[str, dict[str, Any]] = msgspec.field(default_factory=dict)
    timeout_ms: PositiveInt | None = None
    max_text_length: PositiveInt | None = None
    auto: str | bool | None = None
    mode: str | None = None
    enabled: bool | None = None
    summary_model: str | None = None
    model_overrides: dict[str, Any] = msgspec.field(default_factory=dict)
    prefs_path: str | None = None
    openai: dict[str, Any] | None = None
    elevenlabs: dict[str, Any] | None = None
    edge: dict[str, Any] | None = None

    @property
    def voice(self) -> str | None:
        """The OpenAI voice name (``providers.openai.voice``, else legacy ``openai.voice``)."""
        for section in (self.providers.get("openai"), self.openai):
            if isinstance(section, Mapping):
                value = section.get("voice")
                if isinstance(value, str) and value:
                    return value
        return None


class TwilioSettings(_Section, frozen=True):
    """Twilio credentials and API location.

    Attributes:
        account_sid: ``AC...`` account id (env ``TWILIO_ACCOUNT_SID``).
        auth_token: Signs webhooks and authenticates REST calls (env ``TWILIO_AUTH_TOKEN``).
        base_url: API origin for Twilio-compatible backends or a regional edge.
        from_: Legacy January caller number (key ``from``), stored only.
    """

    account_sid: str | None = None
    auth_token: str | None = None
    base_url: HttpUrl | None = None
    from_: str | None = msgspec.field(default=None, name="from")


class TelnyxSettings(_Section, frozen=True):
    """Telnyx credentials (env ``TELNYX_API_KEY``, ``TELNYX_CONNECTION_ID``, ``TELNYX_PUBLIC_KEY``).

    Attributes:
        base_url: Our addition: API origin for compatible backends.
    """

    api_key: str | None = None
    connection_id: str | None = None
    public_key: str | None = None
    base_url: HttpUrl | None = None


class PlivoSettings(_Section, frozen=True):
    """Plivo credentials (env ``PLIVO_AUTH_ID``, ``PLIVO_AUTH_TOKEN``).

    Attributes:
        base_url: Our addition: API origin for compatible backends.
    """

    auth_id: str | None = None
    auth_token: str | None = None
    base_url: HttpUrl | None = None


class OpenAISettings(_Section, frozen=True):
    """OpenAI engine settings (our addition; ``apiKey`` from env ``OPENAI_API_KEY``)."""

    api_key: str | None = None
    base_url: HttpUrl | None = None
    model: Name = "gpt-4o-mini"
    tts_model: Name = "gpt-4o-mini-tts"
    stt_model: Name = "gpt-4o-transcribe"
    voice: Name | None = None
    system_prompt: str | None = None
    timeout_seconds: Annotated[float, msgspec.Meta(gt=0)] | None = None
    instructions: str | None = None
    speed: Annotated[float, msgspec.Meta(ge=0.25, le=4.0)] | None = None
    vad: dict[str, Any] | None = None


class NumberConfig(_Section, frozen=True):
    """Per-number overrides (openclaw ``numbers.<E164>``)."""

    agent_id: str | None = None
    tts: TtsConfig | None = None
    inbound_greeting: str | None = None
    response_model: str | None = None
    response_system_prompt: str | None = None


# ---------------------------------------------------------------- the config


class Config(_Section, frozen=True):
    """The whole telephony configuration. Immutable; use :meth:`replace` to derive a copy.

    Attributes:
        enabled: Master switch.
        provider: Carrier adapter name in entry-point group ``telephony.carriers``; openclaw's
            ``mock`` (and legacy ``log``) become ``local``, the simulated carrier.
        from_number: Default caller id, E.164.
        to_number: Default callee, E.164.
        public_url: Externally visible base URL (no trailing slash); env ``TELEPHONY_PUBLIC_URL``.
        skip_signature_verification: Development only: accept unsigned webhooks.
        inbound_policy: ``disabled``, ``allowlist``, ``pairing`` or ``open``.
        allow_from: E.164 numbers allowed to call in under ``allowlist``/``pairing``.
        inbound_greeting: First line spoken on inbound calls.
        max_concurrent_calls: Limit applied to inbound and outbound calls separately.
        store: Data directory (see :attr:`store_dir`).
        agent: Agent engine name (group ``telephony.agents``) or ``auto``.
        stt: STT engine name (group ``telephony.stt``) or ``auto``.
        tts_engine: TTS engine name (group ``telephony.tts``, key ``ttsEngine``) or ``auto``.
        control_token: Bearer token for the control API (env ``TELEPHONY_CONTROL_TOKEN``).
        carriers: Settings for carrier adapters without a section of their own, by name.
        stt_legacy: The January ``stt: {provider, model}`` object, stored only.
    """

    enabled: bool = True
    provider: Name = "local"
    from_number: E164 | None = None
    to_number: E164 | None = None
    public_url: HttpUrl | None = None
    skip_signature_verification: bool = False

    inbound_policy: Literal["disabled", "allowlist", "pairing", "open"] = "disabled"
    allow_from: tuple[E164, ...] = ()
    inbound_greeting: str | None = None
    outbound: OutboundConfig = msgspec.field(default_factory=OutboundConfig)

    max_duration_seconds: PositiveInt = 300
    stale_call_reaper_seconds: NonNegInt = 0
    silence_timeout_ms: NonNegInt = 800
    transcript_timeout_ms: PositiveInt = 180_000
    ring_timeout_ms: PositiveInt = 30_000
    max_concurrent_calls: PositiveInt = 1

    serve: ServeConfig = msgspec.field(default_factory=ServeConfig)
    tailscale: TailscaleConfig = msgspec.field(default_factory=TailscaleConfig)
    tunnel: TunnelConfig = msgspec.field(default_factory=TunnelConfig)
    webhook_security: WebhookSecurityConfig = msgspec.field(default_factory=WebhookSecurityConfig)
    streaming: StreamingConfig = msgspec.field(default_factory=StreamingConfig)
    realtime: RealtimeConfig = msgspec.field(default_factory=RealtimeConfig)
    tts: TtsConfig = msgspec.field(default_factory=TtsConfig)
    store: Name = "~/.telephony"

    twilio: TwilioSettings = msgspec.field(default_factory=TwilioSettings)
    telnyx: TelnyxSettings = msgspec.field(default_factory=TelnyxSettings)
    plivo: PlivoSettings = msgspec.field(default_factory=PlivoSettings)

    agent_id: str | None = None
    session_scope: Literal["per-phone", "per-call", "main"] = "per-phone"
    numbers: dict[E164, NumberConfig] = msgspec.field(default_factory=dict)
    response_model: str | None = None
    response_system_prompt: str | None = None
    response_timeout_ms: PositiveInt = 30_000
    record: bool = False

    # Our additions.
    agent: Name = "auto"
    stt: Name = "auto"
    tts_engine: Name = "auto"
    openai: OpenAISettings = msgspec.field(default_factory=OpenAISettings)
    control_token: str | None = None
    no_input_retries: NonNegInt = 2
    gather_timeout_seconds: PositiveInt = 5
    language: Name = "en-US"
    carriers: dict[str, dict[str, Any]] = msgspec.field(default_factory=dict)
    engines: dict[str, dict[str, Any]] = msgspec.field(default_factory=dict)
    stt_legacy: dict[str, Any] | None = None

    def __post_init__(self) -> None:
        if self.provider in _LOCAL_ALIASES:
            msgspec.structs.force_setattr(self, "provider", "local")
        if self.public_url is not None and self.public_url.endswith("/"):
            msgspec.structs.force_setattr(self, "public_url", self.public_url.rstrip("/"))
        if self.streaming.enabled and self.realtime.enabled:
            raise ValueError("streaming.enabled and realtime.enabled cannot both be true")
        clash = sorted(set(self.carriers) & {"twilio", "telnyx", "plivo"})
        if clash:
            raise ValueError(f"carriers.{clash[0]}: configure it in the top-level {clash[0]!r} section")

    @property
    def store_dir(self) -> Path:
        """The data directory with ``~`` expanded."""
        return Path(self.store).expanduser()

    @property
    def voice(self) -> str | None:
        """The configured OpenAI voice name, if any (see :attr:`TtsConfig.voice`)."""
        return self.tts.voice

    @property
    def realtime_stream_path(self) -> str:
        """``realtime.streamPath``, else ``serve.path`` with ``/webhook`` made ``/stream/realtime``."""
        if self.realtime.stream_path:
            return self.realtime.stream_path
        path = self.serve.path.rstrip("/")
        if path.endswith("/webhook"):
            return path[: -len("/webhook")] + "/stream/realtime"
        return path + "/stream/realtime"

    def carrier_settings(self, name: str | None = None) -> dict[str, Any]:
        """The camelCase settings mapping handed to a carrier factory.

        Args:
            name: Carrier name; defaults to :attr:`provider`.

        Returns:
            The ``twilio``/``telnyx``/``plivo`` section, else ``carriers.<name>`` (or ``{}``).
        """
        name = name or self.provider
        section: _Section | None = {"twilio": self.twilio, "telnyx": self.telnyx, "plivo": self.plivo}.get(
            name
        )
        if section is not None:
            settings: dict[str, Any] = msgspec.to_builtins(section)
            return settings
        return dict(self.carriers.get(name, {}))

    def replace(self, **changes: Any) -> Config:
        """A copy with the given attributes (snake_case names) changed; not re-validated."""
        return msgspec.structs.replace(self, **changes)

    def redacted(self) -> dict[str, Any]:
        """The config as a camelCase dict with every secret replaced by ``"***"``, for logging."""
        redacted: dict[str, Any] = _redact(msgspec.to_builtins(self))
        return redacted


# ---------------------------------------------------------------- public API


def load_config(
    path: str | os.PathLike[str] | None = None,
    *,
    env: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> Config:
    """Load the config file (if any), fill secrets from the environment and validate once.

    Args:
        path: A ``.json`` (comments and JSON5-style trailing commas tolerated), ``.toml``,
            ``.yaml`` or ``.yml`` file. ``None`` means defaults plus environment.
        env: Environment to read secrets from; defaults to ``os.environ``. Only fills values the
            file leaves unset.
        overrides: Deep-merged over the file data (after the openclaw wrapper is removed);
            keys may be camelCase or snake_case; ``None`` values are ignored.

    Raises:
        ConfigError: the file is missing or unparsable (message names the file), or a key or
            value is invalid (message names the camelCase key path).
    """
    if path is None:
        return config_from_mapping({}, env=env, overrides=overrides)
    file = Path(path)
    data = _read_file(file)
    try:
        return config_from_mapping(data, env=env, overrides=overrides)
    except ConfigError as exc:
        exc.source = str(file)
        raise


def config_from_mapping(
    data: Mapping[str, Any],
    *,
    env: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> Config:
    """Build a :class:`Config` from already-parsed data (bare plugin config or whole openclaw file).

    Args:
        data: The mapping as it would appear in a config file.
        env: Environment to read secrets from; defaults to ``os.environ``.
        overrides: As for :func:`load_config`.

    Raises:
        ConfigError: a key or value is invalid; the message names the key path.
    """
    if not isinstance(data, Mapping):
        raise ConfigError(f"the config must be an object, got {type(data).__name__}")
    raw, prefix = _unwrap_openclaw(data)
    stt = raw.get("stt")
    if isinstance(stt, Mapping):
        raw["sttLegacy"] = dict(raw.pop("stt"))
    if overrides:
        raw = _deep_merge(raw, _camelize(overrides, Config))
    _apply_env(raw, os.environ if env is None else env)
    try:
        return msgspec.convert(raw, Config)
    except msgspec.ValidationError as exc:
        message, key_path = _explain(str(exc), raw, prefix)
        raise ConfigError(message, path=key_path) from None


# ---------------------------------------------------------------- file reading


def _read_file(file: Path) -> Any:
    suffix = file.suffix.lower()
    if suffix not in {".json", ".json5", ".toml", ".yaml", ".yml"}:
        raise ConfigError(
            f"{file}: unsupported config file type {suffix or '(none)'!r}; use .json, .toml, .yaml or .yml",
            source=str(file),
        )
    try:
        text = file.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"config file not found: {file}", source=str(file)) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read config file {file}: {exc}", source=str(file)) from None
    try:
        if suffix == ".toml":
            return tomllib.loads(text)
        if suffix in {".yaml", ".yml"}:
            data = yaml.safe_load(text)
            return {} if data is None else data
        return _parse_json(text)
    except (ValueError, yaml.YAMLError) as exc:
        raise ConfigError(f"cannot parse config file {file}: {exc}", source=str(file)) from None


def _parse_json(text: str) -> Any:
    """Strict JSON, else the JSON5 subset openclaw files use (comments, trailing commas, bare keys)."""
    try:
        return json.loads(text)
    except json.JSONDecodeError as strict_error:
        try:
            data = yaml.load(_strip_json_comments(text), Loader=_Json5Loader)
        except (ValueError, yaml.YAMLError):
            raise strict_error from None
        if not isinstance(data, Mapping):
            raise strict_error from None
        return data


class _Json5Loader(yaml.SafeLoader):
    """YAML safe loader whose only booleans are ``true``/``false`` (as in JSON5)."""


_Json5Loader.yaml_implicit_resolvers = {
    key: [resolver for resolver in resolvers if resolver[0] != "tag:yaml.org,2002:bool"]
    for key, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Json5Loader.add_implicit_resolver("tag:yaml.org,2002:bool", re.compile(r"^(?:true|false)$"), list("tf"))


def _strip_json_comments(text: str) -> str:
    """Remove ``//`` and ``/* */`` comments and tabs outside strings, keeping line numbers."""
    out: list[str] = []
    i, n = 0, len(text)
    quote: str | None = None
    while i < n:
        char = text[i]
        if quote is not None:
            if char == "\\" and i + 1 < n:
                out.append(text[i : i + 2])
                i += 2
                continue
            if char == quote:
                quote = None
            out.append(char)
        elif char in "\"'":
            quote = char
            out.append(char)
        elif text.startswith("//", i):
            end = text.find("\n", i)
            i = n if end < 0 else end
            continue
        elif text.startswith("/*", i):
            end = text.find("*/", i + 2)
            if end < 0:
                raise ValueError("unterminated /* comment")
            out.append("\n" * text.count("\n", i, end))
            i = end + 2
            continue
        else:
            out.append(" " if char == "\t" else char)
        i += 1
    return "".join(out)


# ---------------------------------------------------------------- raw-data preparation


def _unwrap_openclaw(data: Mapping[str, Any]) -> tuple[dict[str, Any], str]:
    """Return a private copy of the plugin config and the key prefix to report errors under."""
    if "plugins" not in data:
        return {key: _copy(value) for key, value in data.items()}, ""
    node: Any = data
    walked: list[str] = []
    for key in OPENCLAW_CONFIG_PATH[:-1]:
        walked.append(key)
        node = node.get(key) if isinstance(node, Mapping) else None
        if not isinstance(node, Mapping):
            raise ConfigError(
                f"{'.'.join(walked)}: expected an object holding the voice-call plugin entry",
                path=".".join(walked),
            )
    entry = node
    prefix = ".".join(OPENCLAW_CONFIG_PATH)
    config = entry.get("config", {})
    if config is None:
        config = {}
    if not isinstance(config, Mapping):
        raise ConfigError(f"{prefix}: expected object, got {type(config).__name__}", path=prefix)
    raw = {key: _copy(value) for key, value in config.items()}
    if "enabled" not in raw and entry.get("enabled") is False:
        raw["enabled"] = False
    messages = data.get("messages")
    core_tts = messages.get("tts") if isinstance(messages, Mapping) else None
    if isinstance(core_tts, Mapping):
        known = {field.encode_name for field in msgspec.structs.fields(TtsConfig)}
        base = {key: value for key, value in _copy(core_tts).items() if key in known}
        plugin_tts = raw.get("tts", {})
        raw["tts"] = _deep_merge(base, plugin_tts) if isinstance(plugin_tts, Mapping) else plugin_tts
    return raw, prefix


def _copy(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {key: _copy(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_copy(item) for item in value]
    return value


def _deep_merge(base: Mapping[str, Any], top: Mapping[str, Any]) -> dict[str, Any]:
    merged = {key: _copy(value) for key, value in base.items()}
    for key, value in top.items():
        if key in {"__proto__", "constructor", "prototype"}:
            continue
        current = merged.get(key)
        if isinstance(value, Mapping) and isinstance(current, Mapping):
            merged[key] = _deep_merge(current, value)
        else:
            merged[key] = _copy(value)
    return merged


def _camelize(data: Mapping[str, Any], type_: Any) -> dict[str, Any]:
    """Rename snake_case attribute names to file keys for known struct fields; drop ``None``s."""
    fields = {field.name: field for field in msgspec.structs.fields(type_)}
    by_key = {field.encode_name: field for field in fields.values()}
    out: dict[str, Any] = {}
    for key, value in data.items():
        if value is None:
            continue
        field = by_key.get(key) or fields.get(key)
        if field is None:
            out[key] = value
            continue
        inner = _unwrap(field.type)
        if isinstance(value, Mapping) and isinstance(inner, type) and issubclass(inner, msgspec.Struct):
            out[field.encode_name] = _camelize(value, inner)
        else:
            out[field.encode_name] = value
    return out


def _apply_env(raw: dict[str, Any], env: Mapping[str, str]) -> None:
    """Fill unset (missing, null or empty) keys from the environment, in place."""
    for variable, key_path in ENV_OVERLAY:
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


# ---------------------------------------------------------------- error messages

_MSGSPEC_ERROR: Final = re.compile(
    r"^(?P<body>.*?)(?: - at `(?P<path>[^`]*)`(?: in `(?P<container>[^`]*)`)?)?$", re.S
)
_PATH_TOKEN: Final = re.compile(r"\.([^.\[]+)|\[(\d+|\.\.\.)\]")
_FRIENDLY_PATTERNS: Final = {
    E164_PATTERN: "an E.164 phone number such as +15551234567",
    _PATH_PATTERN: "a path starting with '/'",
    _URL_PATTERN: "an http(s) URL",
}


def _explain(message: str, raw: Mapping[str, Any], prefix: str) -> tuple[str, str | None]:
    """Rewrite a msgspec error into ``key.path: problem`` using the user's own key names."""
    match = _MSGSPEC_ERROR.match(message)
    body = match.group("body") if match else message
    at = (match.group("path") if match else None) or "$"
    container = match.group("container") if match else None
    is_key = container is not None and at == "key"
    keys, value, type_ = _walk(container if is_key and container else at, raw)

    unknown = re.fullmatch(r"Object contains unknown field `(.+)`", body)
    if unknown:
        name = unknown.group(1)
        full = _join(prefix, [*keys, name])
        hint = ""
        candidates = _field_names(type_)
        close = difflib.get_close_matches(name, candidates, n=1, cutoff=0.6)
        if close:
            hint = f" (did you mean {_join(prefix, [*keys, close[0]])}?)"
        return f"unknown key {full}{hint}", full

    if is_key:
        key_type = _dict_args(type_)[0]
        if key_type is Any:  # a struct: its keys must be strings
            key_type = str
        bad = next((k for k in (value or {}) if not _converts(k, key_type)), None)
        where = _join(prefix, keys)
        detail = f"invalid key {bad!r}: expected {_expected(body)}"
        return (f"{where}: {detail}", where) if where else (detail, None)

    where = _join(prefix, keys)
    enum = re.fullmatch(r"Invalid enum value (.+)", body)
    if enum:
        choices = _literal_choices(type_)
        detail = f"invalid value {enum.group(1)}" + (f" (expected one of: {choices})" if choices else "")
    elif body.startswith("Expected"):
        detail = "expected " + _expected(body)
        if "got" not in body and isinstance(value, str | int | float):
            detail += f", got {value!r}"
    else:
        detail = body
    if not where:
        return detail, None
    return f"{where}: {detail}", where


def _expected(body: str) -> str:
    text = body.removeprefix("Expected ")
    regex = re.fullmatch(r"`str` matching regex '(.*)'", text, re.S)
    if regex:
        pattern = regex.group(1).encode().decode("unicode_escape")
        return _FRIENDLY_PATTERNS.get(pattern, f"str matching {pattern!r}")
    return text.replace("`", "")


def _walk(at: str, raw: Any) -> tuple[list[str], Any, Any]:
    """Follow a msgspec path (``$.a[0].b``, ``$.d[...]``) through the raw data and the type tree."""
    keys: list[str] = []
    value: Any = raw
    type_: Any = Config
    for field_name, index in _PATH_TOKEN.findall(at.removeprefix("$")):
        if field_name:
            keys.append(field_name)
            value = value.get(field_name) if isinstance(value, Mapping) else None
            type_ = _field_type(type_, field_name)
        elif index == "...":
            item_type = _dict_args(type_)[1]
            items = value.items() if isinstance(value, Mapping) else ()
            bad = next(((k, v) for k, v in items if not _converts(v, item_type)), None)
            keys.append(str(bad[0]) if bad else "<key>")
            value = bad[1] if bad else None
            type_ = item_type
        else:
            position = int(index)
            keys[-1:] = [f"{keys[-1] if keys else ''}[{position}]"]
            value = value[position] if isinstance(value, list) and position < len(value) else None
            args = get_args(_unwrap(type_))
            type_ = args[0] if args else Any
    return keys, value, type_


def _join(prefix: str, keys: list[str]) -> str:
    return ".".join(part for part in (prefix, *keys) if part)


def _unwrap(type_: Any) -> Any:
    """Strip ``Annotated`` and ``X | None`` down to the one interesting type."""
    while True:
        origin = get_origin(type_)
        if origin is Annotated:
            type_ = get_args(type_)[0]
        elif origin in (Union, types.UnionType):
            members = [arg for arg in get_args(type_) if arg is not type(None)]
            if len(members) != 1:
                return type_
            type_ = members[0]
        else:
            return type_


def _field_type(type_: Any, encode_name: str) -> Any:
    inner = _unwrap(type_)
    if isinstance(inner, type) and issubclass(inner, msgspec.Struct):
        for field in msgspec.structs.fields(inner):
            if field.encode_name == encode_name:
                return field.type
    return Any


def _field_names(type_: Any) -> list[str]:
    inner = _unwrap(type_)
    if isinstance(inner, type) and issubclass(inner, msgspec.Struct):
        return [field.encode_name for field in msgspec.structs.fields(inner)]
    return []


def _dict_args(type_: Any) -> tuple[Any, Any]:
    args = get_args(_unwrap(type_))
    return (args[0], args[1]) if len(args) == 2 else (Any, Any)


def _literal_choices(type_: Any) -> str:
    inner = _unwrap(type_)
    if get_origin(inner) is Literal:
        return ", ".join(str(choice) for choice in get_args(inner))
    return ""


def _converts(value: Any, type_: Any) -> bool:
    try:
        msgspec.convert(value, type_)
    except msgspec.ValidationError:
        return False
    return True


# ---------------------------------------------------------------- redaction


def _is_secret(key: str) -> bool:
    return key.lower().endswith(_SECRET_SUFFIXES)


def _redact(value: Any) -> Any:
    if isinstance(value, dict):
        return {
            key: _REDACTED if _is_secret(str(key)) and value[key] not in (None, "") else _redact(item)
            for key, item in value.items()
        }
    if isinstance(value, list | tuple):
        return [_redact(item) for item in value]
    return value
