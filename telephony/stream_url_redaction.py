"""Keeps stream tokens out of the server's own log lines.

A stream URL carries its call's single-use token as its last path segment, and the ASGI server
logs the path of every WebSocket it accepts or refuses (uvicorn: ``"WebSocket /voice/stream/
<callId>/<token>" [accepted]`` or ``403``), and of any plain request to it. Those lines are
written by the server, not by us, so a filter on its loggers replaces the token with ``***``
before any handler sees the record. The call id stays: it is what an operator looks for.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from typing import Final

HIDDEN: Final = "***"

SERVER_LOGGERS: Final = ("uvicorn.error", "uvicorn.access")
"""The loggers that write request paths: uvicorn's WebSocket lines and its access log."""


class StreamCredentialFilter(logging.Filter):
    """Replaces the token segment of ``<streamPath>/<callId>/<token>`` in a record's text."""

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
        """``text`` with every stream token in it replaced by :data:`HIDDEN`."""
        return text if self._pattern is None else self._pattern.sub(rf"\g<1>{HIDDEN}", text)

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


_FILTER: Final = StreamCredentialFilter()


def hide_stream_credentials(stream_path: str) -> None:
    """Keep tokens under ``stream_path`` out of the server's log lines, for this process."""
    _FILTER.add(stream_path)
    for name in SERVER_LOGGERS:
        logger = logging.getLogger(name)
        if _FILTER not in logger.filters:
            logger.addFilter(_FILTER)
