"""Settings error wording shared by the core config and every adapter's settings.

msgspec reports ``Expected `int`, got `str` - at `$.serve.port```; users wrote ``serve.port`` in
a file. :func:`explain` rewrites such an error into ``serve.port: expected int, got str`` with
the key names as written, and suggests the nearest key for a misspelled one. The core uses it for
its own schema and :func:`parse_settings` for adapter sections, so both read the same way.
"""

from __future__ import annotations

import difflib
import re
import types
from collections.abc import Iterable, Mapping
from typing import Annotated, Any, Final, Literal, Union, get_args, get_origin

import msgspec

__all__ = [
    "HTTP_URL_PATTERN",
    "HttpUrl",
    "closest",
    "explain",
    "field_names",
    "is_secret_key",
    "unwrap_type",
]

_SECRET_SUFFIXES: Final = ("token", "apikey", "secret", "password")

HTTP_URL_PATTERN: Final = r"^https?://[^\s/?#]+[^\s]*$"
HttpUrl = Annotated[str, msgspec.Meta(pattern=HTTP_URL_PATTERN)]
"""An http(s) URL with a host, for settings such as an API origin; errors say so in words."""

_COMMON_PATTERNS: Final = {HTTP_URL_PATTERN: "an http(s) URL"}

_MSGSPEC_ERROR: Final = re.compile(
    r"^(?P<body>.*?)(?: - at `(?P<path>[^`]*)`(?: in `(?P<container>[^`]*)`)?)?$", re.S
)
_PATH_TOKEN: Final = re.compile(r"\.([^.\[]+)|\[(\d+|\.\.\.)\]")
_CUTOFF: Final = 0.6
"""How alike a misspelling must be to suggest a key (difflib ratio); 0.6 catches a dropped or
swapped letter without pairing unrelated short names."""


def is_secret_key(key: str) -> bool:
    """True for keys whose values must never be logged or echoed (``authToken``, ``apiKey``)."""
    return key.lower().endswith(_SECRET_SUFFIXES)


def closest(name: str, candidates: Iterable[str], *, cutoff: float = _CUTOFF) -> str | None:
    """The candidate most like ``name``, for "did you mean" hints; ``None`` when nothing is close."""
    close = difflib.get_close_matches(name, list(candidates), n=1, cutoff=cutoff)
    return close[0] if close else None


def explain(
    message: str,
    raw: Mapping[str, Any],
    root: Any,
    prefix: str = "",
    *,
    friendly_patterns: Mapping[str, str] | None = None,
) -> tuple[str, str | None]:
    """Rewrite a msgspec validation error as ``key.path: problem`` in the user's own key names.

    Args:
        message: ``str()`` of the ``msgspec.ValidationError``.
        raw: The data that failed to convert.
        root: The type it was converted to (a ``msgspec.Struct``).
        prefix: Where ``raw`` sits in the user's file (``plugins.entries.voice-call.config``,
            ``twilio``, ``engines.espeak``), prepended to every path.
        friendly_patterns: Wording for regex patterns of string fields (``^/`` -> "a path
            starting with '/'"), since a regex is no help to a user.

    Returns:
        The message and the dotted key path at fault (``None`` for an error on the whole object
        when there is no prefix).
    """
    match = _MSGSPEC_ERROR.match(message)
    body = match.group("body") if match else message
    at = (match.group("path") if match else None) or "$"
    container = match.group("container") if match else None
    is_key = container is not None and at == "key"
    keys, value, type_ = _walk(container if is_key and container else at, raw, root)

    unknown = re.fullmatch(r"Object contains unknown field `(.+)`", body)
    if unknown:
        name = unknown.group(1)
        full = _join(prefix, [*keys, name])
        near = closest(name, field_names(type_))
        hint = f" (did you mean {_join(prefix, [*keys, near])}?)" if near else ""
        return f"unknown key {full}{hint}", full

    missing = re.fullmatch(r"Object missing required field `(.+)`", body)
    if missing:
        full = _join(prefix, [*keys, missing.group(1)])
        return f"{full}: required", full

    if is_key:
        key_type = _dict_args(type_)[0]
        if key_type is Any:  # a struct: its keys must be strings
            key_type = str
        bad = next((k for k in (value or {}) if not _converts(k, key_type)), None)
        where = _join(prefix, keys)
        detail = f"invalid key {bad!r}: expected {_expected(body, friendly_patterns)}"
        return (f"{where}: {detail}", where) if where else (detail, None)

    where = _join(prefix, keys)
    enum = re.fullmatch(r"Invalid enum value (.+)", body)
    if enum:
        choices = _literal_choices(type_)
        detail = f"invalid value {enum.group(1)}" + (f" (expected one of: {choices})" if choices else "")
    elif body.startswith("Expected"):
        detail = "expected " + _expected(body, friendly_patterns)
        secret = bool(keys) and is_secret_key(keys[-1])
        if "got" not in body and isinstance(value, str | int | float) and not secret:
            detail += f", got {value!r}"
    else:
        detail = body
    if not where:
        return detail, None
    return f"{where}: {detail}", where


def field_names(type_: Any) -> list[str]:
    """The keys a struct type accepts, as written in files (its encode names)."""
    inner = unwrap_type(type_)
    if isinstance(inner, type) and issubclass(inner, msgspec.Struct):
        return [field.encode_name for field in msgspec.structs.fields(inner)]
    return []


def unwrap_type(type_: Any) -> Any:
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


def _expected(body: str, friendly_patterns: Mapping[str, str] | None) -> str:
    text = body.removeprefix("Expected ")
    regex = re.fullmatch(r"`str` matching regex '(.*)'", text, re.S)
    if regex:
        pattern = regex.group(1).encode().decode("unicode_escape")
        wording = {**_COMMON_PATTERNS, **(friendly_patterns or {})}
        return wording.get(pattern, f"str matching {pattern!r}")
    return text.replace("`", "")


def _walk(at: str, raw: Any, root: Any) -> tuple[list[str], Any, Any]:
    """Follow a msgspec path (``$.a[0].b``, ``$.d[...]``) through the raw data and the type tree."""
    keys: list[str] = []
    value: Any = raw
    type_: Any = root
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
            args = get_args(unwrap_type(type_))
            type_ = args[0] if args else Any
    return keys, value, type_


def _join(prefix: str, keys: list[str]) -> str:
    return ".".join(part for part in (prefix, *keys) if part)


def _field_type(type_: Any, encode_name: str) -> Any:
    inner = unwrap_type(type_)
    if isinstance(inner, type) and issubclass(inner, msgspec.Struct):
        for field in msgspec.structs.fields(inner):
            if field.encode_name == encode_name:
                return field.type
    return Any


def _dict_args(type_: Any) -> tuple[Any, Any]:
    args = get_args(unwrap_type(type_))
    return (args[0], args[1]) if len(args) == 2 else (Any, Any)


def _literal_choices(type_: Any) -> str:
    inner = unwrap_type(type_)
    if get_origin(inner) is Literal:
        return ", ".join(str(choice) for choice in get_args(inner))
    return ""


def _converts(value: Any, type_: Any) -> bool:
    try:
        msgspec.convert(value, type_)
    except msgspec.ValidationError:
        return False
    return True
