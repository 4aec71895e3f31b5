"""Keeps secrets in request paths out of log lines: stream tokens and token-like query parameters.

A stream URL carries its call's single-use token as its last path segment, and the ASGI server
logs the path of every WebSocket it accepts or refuses (uvicorn: ``"WebSocket /voice/stream/
<callId>/<token>" [accepted]`` or ``403``) and of every request, query string included; anyone
may send ``?token=...``. Those lines are written by the server, not by us, so one filter on its
loggers (and on the handler :func:`telephony.configure_logging` installs) replaces the
stream token with ``***`` and the values of token-like query parameters with ``[redacted]``
before any handler sees the record. The call id stays: it is what an operator looks for.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from typing import Final

__all__ = ["HIDDEN", "REDACTED", "SECRETS", "SERVER_LOGGERS", "SecretsFilter", "hide_secrets", "redact_query"]

HIDDEN: Final = "***"
REDACTED: Final = "[redacted]"

# A query parameter whose name says it holds a secret, and its value up to the next separator.
_SECRET_PARAMETER: Final = re.compile(
    r"(?i)([?&;](?:[^=&;#\s\"']*(?:token|secret|password|passwd|signature|sig|key|auth)[^=&;#\s\"']*)=)"
    r"[^&;#\s\"']*"
)


def redact_query(text: str) -> str:
    """``text`` with the values of token-like query parameters replaced by :data:`REDACTED`."""
    return _SECRET_PARAMETER.sub(rf"\g<1>{REDACTED}", text) if "=" in text else text


SERVER_LOGGERS: Final = ("uvicorn.error", "uvicorn.access")
"""The loggers that write request paths: uvicorn's WebSocket lines and its access log."""


class SecretsFilter(logging.Filter):
    """Hides the token of ``<streamPath>/<callId>/<token>`` and token-like query values in a record."""

    def __init__(self) -> None:
        super().__init__()
        self._paths: set[str] = set()
        self._pattern: re.Pattern[str] | None = None

    def add(self, stream_path: str) -> None:
        """Hide tokens under ``stream_path`` too (idempotent)."""
        if stream_path in self._paths:
            return
        self._paths.add(stream_path)
        paths = "|".join(re.escape(path) for path in sorted(self._paths, key=len, reverse=True))
        self._pattern = re.compile(rf"((?:{paths})/[^/\s\"'?#]+/)[^/\s\"'?#]+")

    def redact(self, text: str) -> str:
        """``text`` with every stream token and secret query value in it hidden."""
        if self._pattern is not None:
            text = self._pattern.sub(rf"\g<1>{HIDDEN}", text)
        return redact_query(text)

    def filter(self, record: logging.LogRecord) -> bool:
        """Redact the record in place; it is always kept."""
        if isinstance(record.msg, str):
            record.msg = self.redact(record.msg)
        if isinstance(record.args, Mapping):
            record.args = {key: self._arg(value) for key, value in record.args.items()}
        elif isinstance(record.args, tuple):
            record.args = tuple(self._arg(value) for value in record.args)
        return True

    def _arg(self, value: object) -> object:
        return self.redact(value) if isinstance(value, str) else value


SECRETS: Final = SecretsFilter()
"""The process's filter: put it on the access logger of an ASGI server other than uvicorn."""


def hide_secrets(stream_path: str | None = None) -> None:
    """Keep secrets (and tokens under ``stream_path``) out of the server's log lines, for this process."""
    if stream_path:
        SECRETS.add(stream_path)
    for name in SERVER_LOGGERS:
        logger = logging.getLogger(name)
        if SECRETS not in logger.filters:
            logger.addFilter(SECRETS)
