"""Config errors and their wording: every message names the key path the way the user wrote it."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from telephony.providers import TelephonyError, explain

from .schema import E164_PATTERN, PATH_PATTERN, Config

__all__ = ["ConfigError", "explain_config_error"]

_FRIENDLY_PATTERNS: Final = {
    E164_PATTERN: "an E.164 phone number such as +15551234567",
    PATH_PATTERN: "a path starting with '/'",
}


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


def explain_config_error(message: str, raw: Mapping[str, Any], prefix: str) -> ConfigError:
    """Turn a msgspec error on :class:`Config` into a :class:`ConfigError` naming the key as written.

    Args:
        message: ``str()`` of the ``msgspec.ValidationError``.
        raw: The data that failed to convert.
        prefix: Where that data sits in the file (``plugins.entries.voice-call.config`` for a
            whole openclaw file, else empty).
    """
    text, path = explain(message, raw, Config, prefix, friendly_patterns=_FRIENDLY_PATTERNS)
    return ConfigError(text, path=path)
