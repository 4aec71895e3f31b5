"""Deprecated: the logging helpers moved to :mod:`telephony.observability`; import them from ``telephony``.

Earlier docs imported ``CallContextFilter`` and ``JsonFormatter`` from here. This module keeps
that working for one release, with a :class:`DeprecationWarning`.
"""

from __future__ import annotations

import warnings

from .observability import (
    CallContextFilter,
    JsonFormatter,
    LogFormat,
    TextFormatter,
    bind_call,
    call_context,
    configure_logging,
    current_call,
)

__all__ = [
    "CallContextFilter",
    "JsonFormatter",
    "LogFormat",
    "TextFormatter",
    "bind_call",
    "call_context",
    "configure_logging",
    "current_call",
]

warnings.warn(
    "telephony.logs is deprecated: import CallContextFilter, JsonFormatter, TextFormatter and "
    "configure_logging from telephony",
    DeprecationWarning,
    stacklevel=2,
)
