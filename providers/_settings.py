"""Adapter settings: each adapter declares its own schema and environment variables.

The core keeps an adapter's config section as a raw mapping and knows nothing of its keys. An
adapter says what the section holds with a :class:`SettingsSchema` (a msgspec struct plus
"environment variable X fills key Y"), attached to its entry-point factory with
:func:`declare_settings`. The core finds it through the registry (:func:`settings_schema` in the
registry module), fills unset keys from the environment it was given, and checks the section at
start-up so a missing credential stops the server with the key's name, not the first call.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final, Generic, TypeVar

import msgspec

from ._errors import AdapterConfigError
from ._explain import explain, field_names

__all__ = ["SettingsSchema", "declare_settings", "declared_settings", "parse_settings"]

T = TypeVar("T")
F = TypeVar("F", bound=Callable[..., Any])

SCHEMA_ATTRIBUTE: Final = "telephony_settings"
"""The factory attribute :func:`declare_settings` sets; a third-party factory may set it by hand."""


def parse_settings(
    section: str,
    settings: Mapping[str, Any],
    type_: type[T],
    *,
    env: Mapping[str, str] | None = None,
    required_by: str | None = None,
) -> T:
    """Convert ``settings`` to ``type_``; on failure name the key as ``section.key``.

    Errors read like the core config's, with the nearest key for a misspelled one:
    ``unknown key twilio.authTokn (did you mean twilio.authToken?)``,
    ``twilio.accountSid: required by provider "twilio" (or set TWILIO_ACCOUNT_SID)``.

    Args:
        section: Where the user wrote the mapping (``twilio``, ``carriers.acme``,
            ``engines.espeak``); every key path in a message starts with it.
        settings: The raw section.
        type_: The msgspec struct to convert to; fields without a default are required.
        env: Key to environment variable, so a missing key's message names the variable too.
        required_by: Who needs a missing key (``provider "twilio"``), added to its message.

    Raises:
        AdapterConfigError: with one line naming the key, and the key path in ``path``.
    """
    try:
        return msgspec.convert(dict(settings), type_, str_keys=True)
    except msgspec.ValidationError as exc:
        message, path = explain(str(exc), settings, type_, section)
        key = path.rsplit(".", 1)[-1] if path else ""
        if path is not None and message == f"{path}: required":
            message = _required(path, required_by, (env or {}).get(key))
        elif path is None:
            message = f"{section}: {message}"
        raise AdapterConfigError(message, path=path or section) from None


def _required(path: str, required_by: str | None, variable: str | None) -> str:
    """``twilio.accountSid: required by provider "twilio" (or set TWILIO_ACCOUNT_SID)``."""
    by = f" by {required_by}" if required_by else ""
    alternative = f" (or set {variable})" if variable else ""
    return f"{path}: required{by}{alternative}"


@dataclass(frozen=True)
class SettingsSchema(Generic[T]):
    """What an adapter reads from its config section.

    Attributes:
        section: The adapter's own name for the section, used in messages when it parses
            settings by itself (the core passes where the user actually wrote them).
        type: A msgspec struct with ``rename="camel"``; fields without a default are required,
            and are checked at start-up.
        env: Key to environment variable: the variable fills the key when the config leaves it
            unset (missing, null or empty). A value in the file always wins.
    """

    section: str
    type: type[T]
    env: Mapping[str, str] = field(default_factory=dict)

    def parse(
        self, settings: Mapping[str, Any], *, section: str | None = None, required_by: str | None = None
    ) -> T:
        """Convert a section (see :func:`parse_settings`).

        A misspelled key is reported first, with the nearest key (a misspelled ``authToken``
        also leaves ``authToken`` missing, and the hint is what helps). A required key that is
        missing, null or empty is reported as required, with its variable, whatever its type
        would have said about ``null`` or ``""``.
        """
        where = section or self.section
        if set(settings) <= set(field_names(self.type)):  # no misspelling to point out first
            self._refuse_missing(settings, where, required_by)
        parsed = parse_settings(where, settings, self.type, env=self.env, required_by=required_by)
        self._refuse_missing(settings, where, required_by)  # "" passes a plain str field
        return parsed

    def _refuse_missing(self, settings: Mapping[str, Any], where: str, required_by: str | None) -> None:
        for key in self.missing(settings):
            path = f"{where}.{key}"
            raise AdapterConfigError(_required(path, required_by, self.env.get(key)), path=path)

    def required(self) -> tuple[str, ...]:
        """The keys that must have a value, as written in files."""
        return tuple(f.encode_name for f in msgspec.structs.fields(self.type) if f.required)  # type: ignore[arg-type]

    def missing(self, settings: Mapping[str, Any]) -> tuple[str, ...]:
        """The required keys ``settings`` leaves unset (missing, null or empty)."""
        return tuple(key for key in self.required() if settings.get(key) in (None, ""))

    def with_environment(self, settings: Mapping[str, Any], environ: Mapping[str, str]) -> dict[str, Any]:
        """A copy of ``settings`` with each declared key it leaves unset taken from ``environ``."""
        filled = dict(settings)
        for key, variable in self.env.items():
            value = environ.get(variable)
            if value and filled.get(key) in (None, ""):
                filled[key] = value
        return filled


def declare_settings(schema: SettingsSchema[Any]) -> Callable[[F], F]:
    """Attach ``schema`` to an entry-point factory, where the core's registry looks for it.

    Example::

        TWILIO = SettingsSchema("twilio", TwilioSettings, env={"authToken": "TWILIO_AUTH_TOKEN"})

        @declare_settings(TWILIO)
        def create_carrier(settings, context): ...
    """

    def mark(factory: F) -> F:
        setattr(factory, SCHEMA_ATTRIBUTE, schema)
        return factory

    return mark


def declared_settings(factory: object) -> SettingsSchema[Any] | None:
    """The schema a factory declares, or ``None`` for one that declares nothing."""
    schema = getattr(factory, SCHEMA_ATTRIBUTE, None)
    return schema if isinstance(schema, SettingsSchema) else None
