"""Choose and build the carrier, agent and speech engines named in config, through the registry.

The core knows no adapter's settings. Each adapter's entry-point factory declares a
:class:`~telephony.providers.SettingsSchema` (its struct and its environment variables); the
core hands it the raw section the user wrote, filled from the environment, and checks it before
building anything, so a missing credential or a misspelled key stops start-up with one line that
names the key as written (``twilio.accountSid: required by provider "twilio" (or set
TWILIO_ACCOUNT_SID)``).

Where settings are written: a carrier ``X`` reads the top-level section ``X`` (openclaw's shape)
with ``carriers.X`` over it; an engine ``X`` reads the top-level section ``X`` with
``engines.X`` over it.

``auto`` picks OpenAI when its settings are complete (a key is configured) and the offline
engines otherwise, so the product runs with no keys and no network.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Final

from telephony.providers import (
    AGENTS,
    CARRIERS,
    STT,
    TTS,
    AdapterConfigError,
    AdapterNotFound,
    Agent,
    Carrier,
    CarrierContext,
    SettingsSchema,
    SpeechToText,
    TextToSpeech,
    available,
    closest,
    declared_settings,
    load,
)

from .config.environment import AUTO_PREFERENCE, declared_schema, stt_key, tts_choice
from .config.errors import ConfigError
from .config.unused import OPENCLAW_OPENAI_TTS_KEYS

if TYPE_CHECKING:
    from collections.abc import Mapping

    from .config.schema import Config

__all__ = [
    "OFFLINE",
    "factory_settings",
    "load_agent",
    "load_carrier",
    "load_stt",
    "load_tts",
    "openclaw_tts_settings",
]

OFFLINE: Final = {AGENTS: "builtin", TTS: "espeak", STT: "pocketsphinx"}

VAD_ENGINES: Final = frozenset({"pocketsphinx", "openai"})
"""Bundled recognizers whose settings take ``vad``."""

_WHAT: Final = {CARRIERS: "carrier adapter", AGENTS: "agent engine", TTS: "TTS engine", STT: "STT engine"}
_ROLE: Final = {CARRIERS: "provider", AGENTS: "agent", TTS: "TTS engine", STT: "STT engine"}


# ---------------------------------------------------------------- which adapter, and where its settings are


def factory_settings(config: Config, name: str) -> dict[str, Any]:
    """The settings the factory of engine ``name`` gets, openclaw's keys included.

    That is :meth:`Config.engine_settings` (its section, ``engines.<name>`` over it). For OpenAI,
    openclaw's TTS voice (``tts.providers.openai.voice``), ``responseSystemPrompt``
    and ``responseModel`` fill what the ``openai`` section leaves unset.
    """
    settings = {key: value for key, value in config.sections.get(name, {}).items() if value is not None}
    if name == "openai":
        settings.setdefault("voice", config.tts.voice)
        settings.setdefault("systemPrompt", config.response_system_prompt)
        settings.setdefault("model", _openai_model(config.response_model))
        settings = {key: value for key, value in settings.items() if value is not None}
    return settings | config.engines.get(name, {})


def openclaw_tts_settings(config: Config, name: str) -> dict[str, tuple[str, Any]]:
    """What openclaw's ``tts`` block sets for engine ``name``: ``{setting: (key as written, value)}``.

    Only OpenAI has openclaw TTS keys we act on (:data:`OPENCLAW_OPENAI_TTS_KEYS`);
    ``tts.providers.openai`` wins over the older flat ``tts.openai``.
    """
    if name != "openai":
        return {}
    found: dict[str, tuple[str, Any]] = {}
    for where, section in (
        ("tts.openai", config.tts.openai),
        ("tts.providers.openai", config.tts.providers.get("openai")),
    ):
        for key, value in (section or {}).items():
            setting = OPENCLAW_OPENAI_TTS_KEYS.get(key)
            if setting is not None and value not in (None, ""):
                found[setting] = (f"{where}.{key}", value)
    return found


def _tts_settings(config: Config, name: str) -> dict[str, Any]:
    """The TTS factory's settings: openclaw's ``tts`` block over the shared section.

    openclaw's TTS keys are the TTS engine's own, so they win over the shared ``openai``
    section (and over ``OPENAI_API_KEY``, as a value in the file always does);
    ``engines.<name>`` still wins over both.
    """
    settings = factory_settings(config, name)
    explicit = config.engines.get(name, {})
    for setting, (_where_written, value) in openclaw_tts_settings(config, name).items():
        if setting not in explicit:
            settings[setting] = value
    return settings


def _openai_model(model: str | None) -> str | None:
    """Take the OpenAI part of openclaw's ``provider/model`` names (``openai/...`` or a bare name)."""
    if not model:
        return None
    provider, slash, bare = model.partition("/")
    if not slash:
        return model
    return bare if provider == "openai" else None


def _where(config: Config, group: str, name: str, path: str | None = None) -> str:
    """Where the user wrote (or should write) the settings of ``name``, for messages.

    Args:
        config: The config.
        group: The entry-point group of the adapter.
        name: The adapter's name.
        path: The key at fault as ``<name>.<key>...``, when known: the section that holds that
            key is the one named (``carriers.<name>`` is merged over the top-level section, so a
            key may be in either).

    Returns:
        The top-level section when it holds the key (or, for no key, exists), else
        ``carriers.<name>``/``engines.<name>`` when that holds it (or exists). With neither,
        carriers and OpenAI point at the top-level form (openclaw's ``twilio``, our documented
        ``openai``), other engines at ``engines.<name>``.
    """
    prefix, layer = ("carriers", config.carriers) if group == CARRIERS else ("engines", config.engines)
    written = f"{prefix}.{name}"
    top = (path or "").removeprefix(f"{name}.").split(".")[0].split("[")[0] if path else ""
    if top and top in layer.get(name, {}):
        return written
    if top and top in config.sections.get(name, {}):
        return name
    if name in config.sections:
        return name
    if name in layer or (group != CARRIERS and name != AUTO_PREFERENCE):
        return written
    return name


def _choice(config: Config, group: str, configured: str) -> str:
    if configured != "auto":
        return configured
    if AUTO_PREFERENCE in available(group):
        schema = declared_schema(group, AUTO_PREFERENCE)
        settings = (_tts_settings if group == TTS else factory_settings)(config, AUTO_PREFERENCE)
        if schema is not None and not schema.missing(settings):
            return AUTO_PREFERENCE
    return OFFLINE[group]


# ---------------------------------------------------------------- building


def _factory(group: str, key: str, name: str) -> Callable[..., Any]:
    """The factory registered as ``name``; a wrong or uninstalled name is a config error on ``key``."""
    names = available(group)
    if name not in names:
        near = closest(name, names)
        hint = f" (did you mean {near!r}?)" if near else ""
        raise ConfigError(
            f"{key}: no {_WHAT[group]} named {name!r}{hint}; installed: {', '.join(names) or 'none'}",
            path=key,
        )
    try:
        factory: Callable[..., Any] = load(group, name)
    except AdapterNotFound as exc:  # registered, but a package it needs is missing
        raise ConfigError(f"{key}: {name!r} cannot be loaded: {exc}", path=key) from None
    return factory


def _build(config: Config, group: str, key: str, name: str, settings: Mapping[str, Any], *args: Any) -> Any:
    """Check ``settings`` against the declared schema, then call the factory.

    The check runs here, so every message names the key where the user wrote it
    (``engines.espeak.voice``, ``carriers.acme.apiKey``), not as the adapter calls its section.
    """
    factory = _factory(group, key, name)
    schema = declared_settings(factory)
    if schema is not None:
        _check(config, group, name, schema, settings)
    try:
        return factory(settings, *args)
    except AdapterConfigError as exc:
        section = schema.section if schema else name
        where = _where(config, group, name, exc.path and name + exc.path.removeprefix(section))
        raise _at(exc, section, where) from None


def _check(
    config: Config, group: str, name: str, schema: SettingsSchema[Any], settings: Mapping[str, Any]
) -> None:
    """Parse once to find the key at fault, then again to word it where that key was written."""
    try:
        schema.parse(settings, section=name)
    except AdapterConfigError as found:
        where = _where(config, group, name, found.path)
        try:
            schema.parse(settings, section=where, required_by=f'{_ROLE[group]} "{name}"')
        except AdapterConfigError as exc:
            raise ConfigError(str(exc), path=exc.path) from None
        raise ConfigError(str(found), path=found.path) from None  # the same data: not reached


def _at(exc: AdapterConfigError, section: str, where: str) -> ConfigError:
    """Report an error a factory raised at the key the user wrote, as a config error."""
    message, path = str(exc), exc.path
    if where != section:
        if path is not None and (path == section or path.startswith(f"{section}.")):
            new_path = where + path[len(section) :]
            message, path = message.replace(path, new_path), new_path
        else:  # an adapter that gives no path: keep its words, name the section as written
            message = message.replace(f"`{section}.", f"`{where}.").replace(f"`{section}`", f"`{where}`")
    return ConfigError(message, path=path)


def load_agent(config: Config) -> Agent:
    """The agent engine named by ``agent`` (``auto``: OpenAI with a key, else the offline one)."""
    name = _choice(config, AGENTS, config.agent)
    agent: Agent = _build(config, AGENTS, "agent", name, factory_settings(config, name))
    return agent


def load_tts(config: Config) -> TextToSpeech:
    """The TTS engine named by ``ttsEngine``, else by openclaw's ``tts.provider``.

    An engine ``tts.provider`` names is never swapped for another: one that cannot run stops
    start-up with a line naming the key to set (openclaw's ``tts.providers.<name>`` form).

    Raises:
        ConfigError: the engine is unknown, or its settings are incomplete or invalid.
    """
    key, configured = tts_choice(config)
    name = _choice(config, TTS, configured)
    settings = _tts_settings(config, name)
    if key != "tts.provider":
        tts: TextToSpeech = _build(config, TTS, key, name, settings)
        return tts
    schema = declared_schema(TTS, name)
    missing = schema.missing(settings) if schema is not None else ()
    if missing and schema is not None:
        raise _missing_for_tts_provider(config, name, missing[0], schema)
    try:
        chosen: TextToSpeech = _build(config, TTS, key, name, settings)
    except ConfigError as exc:
        raise _as_written(exc, config, name) from None
    return chosen


def _missing_for_tts_provider(
    config: Config, name: str, needed: str, schema: SettingsSchema[Any]
) -> ConfigError:
    """One line naming every place the setting ``tts.provider``'s engine lacks may be written."""
    places = [f"{_where(config, TTS, name)}.{needed}"]
    openclaw_key = {ours: theirs for theirs, ours in OPENCLAW_OPENAI_TTS_KEYS.items()}.get(needed)
    if name == "openai" and openclaw_key is not None:
        places.insert(0, f"tts.providers.openai.{openclaw_key}")
    if needed in schema.env:
        places.append(schema.env[needed])
    first, *others = places
    more = f" (or {', or '.join(others)})" if others else ""
    return ConfigError(
        f"tts.provider is {name!r}, which needs {needed}: set {first}{more}, or choose another tts.provider",
        path=first,
    )


def _as_written(exc: ConfigError, config: Config, name: str) -> ConfigError:
    """Name a bad openclaw TTS key where it was written (``tts.providers.openai.speed``)."""
    message, path = str(exc), exc.path
    for setting, (written, _value) in openclaw_tts_settings(config, name).items():
        ours = f"{name}.{setting}"
        if path == ours:
            return ConfigError(message.replace(ours, written), path=written)
    return exc


def load_stt(config: Config) -> SpeechToText:
    """The recognizer; bundled ones end an utterance after ``silenceTimeoutMs`` of quiet.

    openclaw declared ``silenceTimeoutMs`` (and the legacy ``streaming.silenceDurationMs``) for
    this; an explicit ``vad.silenceMs`` in the engine's own settings still wins.
    """
    name = _choice(config, STT, config.streaming.provider or config.stt)
    settings = factory_settings(config, name)
    if name in VAD_ENGINES:
        vad = dict(settings.get("vad") or {})
        vad.setdefault("silenceMs", config.streaming.silence_duration_ms or config.silence_timeout_ms)
        settings["vad"] = vad
    stt: SpeechToText = _build(config, STT, stt_key(config), name, settings)
    return stt


def load_carrier(config: Config, context: CarrierContext) -> Carrier:
    """The carrier adapter named by ``provider``, given its own config section."""
    name = config.provider
    carrier: Carrier = _build(config, CARRIERS, "provider", name, config.carrier_settings(name), context)
    return carrier
