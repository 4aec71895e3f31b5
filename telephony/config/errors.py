"""Config errors and their wording: every message names the key path the way the user wrote it."""

from __future__ import annotations

import difflib
import re
import types
from collections.abc import Mapping
from typing import Annotated, Any, Final, Literal, Union, get_args, get_origin

import msgspec

from telephony.providers import TelephonyError

from .schema import _PATH_PATTERN, _URL_PATTERN, E164_PATTERN, Config


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
