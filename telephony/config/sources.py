"""Raw-data preparation: unwrapping a whole openclaw file, adapter sections, overrides.

Everything here works on plain mappings before validation, and on private copies: the caller's
data is never changed.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

import msgspec

from telephony.providers import closest, unwrap_type

from .errors import ConfigError
from .schema import Config, TtsConfig

__all__ = [
    "OPENCLAW_CONFIG_PATH",
    "camelize",
    "deep_merge",
    "split_sections",
    "unwrap_openclaw",
]

#: Where the plugin config sits inside a whole openclaw config file.
OPENCLAW_CONFIG_PATH: Final = ("plugins", "entries", "voice-call", "config")

_SECTION_NAME_CUTOFF: Final = 0.8
"""A top-level object this much like a core key is a typo of it (``serv``, ``tunel``), not an
adapter section; openclaw's carrier names and ``openai`` are far below it."""


def unwrap_openclaw(data: Mapping[str, Any]) -> tuple[dict[str, Any], str]:
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
        raw["tts"] = deep_merge(base, plugin_tts) if isinstance(plugin_tts, Mapping) else plugin_tts
    return raw, prefix


def _copy(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {key: _copy(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_copy(item) for item in value]
    return value


def deep_merge(base: Mapping[str, Any], top: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of ``base`` with ``top`` merged in, objects key by key; prototype keys are skipped."""
    merged = {key: _copy(value) for key, value in base.items()}
    for key, value in top.items():
        if key in {"__proto__", "constructor", "prototype"}:
            continue
        current = merged.get(key)
        if isinstance(value, Mapping) and isinstance(current, Mapping):
            merged[key] = deep_merge(current, value)
        else:
            merged[key] = _copy(value)
    return merged


def camelize(data: Mapping[str, Any], type_: Any) -> dict[str, Any]:
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
        inner = unwrap_type(field.type)
        if isinstance(value, Mapping) and isinstance(inner, type) and issubclass(inner, msgspec.Struct):
            out[field.encode_name] = camelize(value, inner)
        else:
            out[field.encode_name] = value
    return out


def split_sections(raw: dict[str, Any], prefix: str) -> None:
    """Move top-level objects the core does not know into ``sections``, in place.

    They are adapter sections (openclaw's ``twilio``, ``telnyx``, ``plivo``; our ``openai``): the
    core keeps them raw and the adapter named like one checks it at start-up, so the core needs
    no carrier's keys. A top-level object close to a core key is reported as a typo instead, and
    anything that is not an object stays for validation to reject as an unknown key.
    """
    known = {field.encode_name for field in msgspec.structs.fields(Config)} - {"sections"}
    sections: dict[str, Any] = {}
    for key in list(raw):
        where = _join(prefix, key)
        if key == "sections":  # where the core keeps them, not a key of the file
            raise ConfigError(f"unknown key {where}", path=where)
        if key in known or not isinstance(raw[key], Mapping):
            continue
        near = closest(key, known, cutoff=_SECTION_NAME_CUTOFF)
        if near is not None:
            raise ConfigError(f"unknown key {where} (did you mean {_join(prefix, near)}?)", path=where)
        sections[key] = raw.pop(key)
    if sections:
        raw["sections"] = sections


def _join(prefix: str, key: str) -> str:
    return f"{prefix}.{key}" if prefix else key
