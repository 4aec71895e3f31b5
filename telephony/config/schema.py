"""The configuration schema: every key, its type, its default, and what it means.

Keys are camelCase in files and snake_case as attributes. Unknown keys are rejected.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Final, Literal

import msgspec

from telephony.providers import HttpUrl, is_secret_key

from ..urls import redact

__all__ = [
    "E164",
    "E164_PATTERN",
    "PATH_PATTERN",
    "Config",
    "LoggingConfig",
    "MetricsConfig",
    "Name",
    "NonNegFloat",
    "NonNegInt",
    "NumberConfig",
    "OutboundConfig",
    "Port",
    "PositiveInt",
    "RealtimeConfig",
    "ServeConfig",
    "StreamingConfig",
    "TailscaleConfig",
    "TtsConfig",
    "TunnelConfig",
    "UrlPath",
    "WebhookSecurityConfig",
]

E164_PATTERN: Final = r"^\+[1-9]\d{1,14}\Z"  # \Z: "$" would let a trailing newline through
PATH_PATTERN: Final = r"^/"

E164 = Annotated[str, msgspec.Meta(pattern=E164_PATTERN)]
Port = Annotated[int, msgspec.Meta(ge=1, le=65535)]
UrlPath = Annotated[str, msgspec.Meta(pattern=PATH_PATTERN)]
NonNegInt = Annotated[int, msgspec.Meta(ge=0)]
PositiveInt = Annotated[int, msgspec.Meta(ge=1)]
NonNegFloat = Annotated[float, msgspec.Meta(ge=0)]
Name = Annotated[str, msgspec.Meta(min_length=1)]


#: openclaw provider names that mean our simulated carrier.
_LOCAL_ALIASES: Final = frozenset({"mock", "log"})

_REDACTED: Final = "***"


class _Section(msgspec.Struct, rename="camel", forbid_unknown_fields=True, kw_only=True, frozen=True):
    """Common struct options: camelCase keys, strict, immutable."""


# ---------------------------------------------------------------- sections


class ServeConfig(_Section, frozen=True):
    """The webhook HTTP server.

    Attributes:
        port: TCP port (1..65535).
        bind: Address to listen on.
        path: Webhook path; must start with ``/``.
        request_timeout_ms: How long a client has to send a whole request (headers and body)
            before its connection is closed.
        drain_timeout_ms: On SIGTERM, how long ``telephony serve`` lets live stream calls go
            on (refusing new calls) before it says goodbye on those left and stops.
        allowed_hosts: Host names the control API, ``/metrics`` and ``/schema`` answer to,
            besides loopback names, addresses and ``publicUrl``'s host; ``*`` for any (a host
            app that checks ``Host`` itself). Other names are refused as DNS rebinding.
    """

    port: Port = 3334
    bind: str = "127.0.0.1"
    path: UrlPath = "/voice/webhook"
    request_timeout_ms: PositiveInt = 10_000
    drain_timeout_ms: NonNegInt = 30_000
    allowed_hosts: tuple[str, ...] = ()


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
        lease_ms: How long a live stream's lease in the store outlives its process's last
            renewal: a stream whose process died is noticed (and its call ended) about this late.
        start_timeout_ms: How long after the answer a call's stream may take to start before
            the call is moved to markup mode (a tunnel or firewall that passes webhooks but not
            WebSockets); ``0`` turns the move off, leaving such calls to the lost-stream sweep.
            At most a minute: a caller does not wait longer in silence.
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
    lease_ms: PositiveInt = 10_000
    start_timeout_ms: Annotated[int, msgspec.Meta(ge=0, le=60_000)] = 4_000
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


class LoggingConfig(_Section, frozen=True):
    """Log lines of ``telephony serve`` (an embedding host configures its own logging).

    Attributes:
        format: ``text`` for people, ``json`` (one object a line) for log pipelines; env
            ``TELEPHONY_LOG_FORMAT``.
        level: ``debug`` adds caller speech and agent replies; ``info`` never has them.
    """

    format: Literal["text", "json"] = "text"
    level: Literal["debug", "info", "warning", "error"] = "info"


class MetricsConfig(_Section, frozen=True):
    """The Prometheus ``/metrics`` route.

    Attributes:
        enabled: Serve it; it is guarded like the control API (``controlToken``, or this
            machine only).
    """

    enabled: bool = True


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
        store: Data directory (see :attr:`store_dir`), or the URL of a Redis server
            (``redis://``, ``rediss://``, ``unix://``) that several instances share.
        store_key_prefix: Where a Redis store's keys (and control channels) start, so two apps
            can share one Redis.
        agent: Agent engine name (group ``telephony.agents``) or ``auto``.
        stt: STT engine name (group ``telephony.stt``) or ``auto``.
        tts_engine: TTS engine name (group ``telephony.tts``, key ``ttsEngine``) or ``auto``.
        control_token: Bearer token for the control API and ``/metrics`` (env
            ``TELEPHONY_CONTROL_TOKEN``).
        webhook_lease_ms: How long a webhook's claim outlives its handler's last renewal: a
            carrier retry after a crash waits at most this long before running the turn.
        logging: Log format and level of ``telephony serve``.
        metrics: The ``/metrics`` route.
        carriers: Carrier adapter settings by carrier name, as written (``carriers.<name>``).
        engines: Engine settings by engine name, as written (``engines.<name>``).
        stt_legacy: The January ``stt: {provider, model}`` object, stored only.
        sections: Every other top-level object, by key, as written: adapter sections such as
            openclaw's carrier sections or ``openai``. The core does not read them; the adapter
            named like a section gets it (see :meth:`carrier_settings`, :meth:`engine_settings`)
            and checks it at start-up. Not a file key: files write these sections at the top.
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
    store_key_prefix: Name = "telephony:"

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
    control_token: str | None = None
    webhook_lease_ms: PositiveInt = 6_000
    logging: LoggingConfig = msgspec.field(default_factory=LoggingConfig)
    metrics: MetricsConfig = msgspec.field(default_factory=MetricsConfig)
    no_input_retries: NonNegInt = 2
    gather_timeout_seconds: PositiveInt = 5
    holding_line_after_ms: NonNegInt = 1_500
    tts_timeout_ms: PositiveInt = 2_500
    language: Name = "en-US"
    carriers: dict[str, dict[str, Any]] = msgspec.field(default_factory=dict)
    engines: dict[str, dict[str, Any]] = msgspec.field(default_factory=dict)
    stt_legacy: dict[str, Any] | None = None
    sections: dict[str, dict[str, Any]] = msgspec.field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.provider in _LOCAL_ALIASES:
            msgspec.structs.force_setattr(self, "provider", "local")
        if self.public_url is not None and self.public_url.endswith("/"):
            msgspec.structs.force_setattr(self, "public_url", self.public_url.rstrip("/"))
        if self.streaming.enabled and self.realtime.enabled:
            raise ValueError("streaming.enabled and realtime.enabled cannot both be true")

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
        """The raw camelCase settings handed to a carrier factory.

        Args:
            name: Carrier name; defaults to :attr:`provider`.

        Returns:
            The top-level section named after the carrier (openclaw's shape), with
            ``carriers.<name>`` merged over it; ``{}`` when neither is given.
        """
        name = name or self.provider
        return {**self.sections.get(name, {}), **self.carriers.get(name, {})}

    def engine_settings(self, name: str) -> dict[str, Any]:
        """The raw settings of the engine ``name``: its top-level section, ``engines.<name>`` over it."""
        return {**self.sections.get(name, {}), **self.engines.get(name, {})}

    def replace(self, **changes: Any) -> Config:
        """A copy with the given attributes (snake_case names) changed; not re-validated."""
        return msgspec.structs.replace(self, **changes)

    def redacted(self) -> dict[str, Any]:
        """The config as a camelCase dict with every secret replaced by ``"***"``, for logging."""
        data: dict[str, Any] = msgspec.to_builtins(self)
        data.update(data.pop("sections"))  # adapter sections stand at the top, as in the file
        data["store"] = redact(data["store"])  # a Redis URL may carry a password
        redacted: dict[str, Any] = _redact(data)
        return redacted


# ---------------------------------------------------------------- redaction


def _redact(value: Any) -> Any:
    if isinstance(value, dict):
        return {
            key: _REDACTED if is_secret_key(str(key)) and value[key] not in (None, "") else _redact(item)
            for key, item in value.items()
        }
    if isinstance(value, list | tuple):
        return [_redact(item) for item in value]
    return value
