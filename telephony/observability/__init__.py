"""What the server tells its operators: log lines that name their call, metrics, redaction.

Log lines carry the call they belong to (:func:`bind_call`, :class:`CallContextFilter`), in
text or JSON; :class:`Metrics` feeds ``/metrics``; :class:`RateLimitedLog` keeps what strangers
can trigger to a few lines a minute; :data:`SECRETS` keeps tokens out of logged paths. Logger
names are unchanged (``telephony``, ``telephony.server``, ...), so logging configs keep working.
"""

from __future__ import annotations

from ._logs import (
    CallContextFilter,
    JsonFormatter,
    LogFormat,
    TextFormatter,
    bind_call,
    call_context,
    configure_logging,
    current_call,
)
from ._metrics import CONTENT_TYPE, MAX_COUNTED_CALLS, FrameLagMeter, Metrics, verification_reason
from ._rate_limited_log import RateLimitedLog
from ._redaction import HIDDEN, REDACTED, SECRETS, SERVER_LOGGERS, SecretsFilter, hide_secrets, redact_query

__all__ = [
    "CONTENT_TYPE",
    "HIDDEN",
    "MAX_COUNTED_CALLS",
    "REDACTED",
    "SECRETS",
    "SERVER_LOGGERS",
    "CallContextFilter",
    "FrameLagMeter",
    "JsonFormatter",
    "LogFormat",
    "Metrics",
    "RateLimitedLog",
    "SecretsFilter",
    "TextFormatter",
    "bind_call",
    "call_context",
    "configure_logging",
    "current_call",
    "hide_secrets",
    "redact_query",
    "verification_reason",
]
