"""Typed adapter settings from a plain mapping, with errors that name the key path."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

import msgspec

from ._errors import AdapterConfigError

T = TypeVar("T")


def parse_settings(section: str, settings: Mapping[str, Any], type_: type[T]) -> T:
    """Convert ``settings`` to ``type_``; on failure name the key as ``section.key``.

    msgspec reports paths as ``$.key``; we rewrite the root to the config section so the user
    sees ``twilio.authToken`` rather than ``$.authToken``.
    """
    try:
        return msgspec.convert(dict(settings), type_, str_keys=True)
    except msgspec.ValidationError as exc:
        message = str(exc)
        if " - at `$" not in message:  # msgspec gives no path for errors on the top-level object
            message += " - at `$`"
        message = message.replace("`$.", f"`{section}.").replace("`$`", f"`{section}`")
        raise AdapterConfigError(f"invalid {section} settings: {message}") from None
