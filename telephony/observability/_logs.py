"""Log lines that name their call: a context variable, a filter that copies it, two formats.

Handlers of one call (a webhook request, a media stream, a timer) bind the call's id once with
:func:`bind_call`; every line logged from that task afterwards, by the core, an adapter or a
library, carries ``call_id`` and ``carrier`` once :class:`CallContextFilter` sits on the handler.
Tasks started from there inherit the binding (asyncio copies the context into a new task), so
nothing has to pass the id to each log call.

Caller speech and agent replies are personal data: the core logs them at DEBUG only; INFO lines
carry what happened and how long it took.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import IO, Final, Literal

import msgspec

from ._redaction import SECRETS

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

LogFormat = Literal["text", "json"]

_CALL: ContextVar[tuple[str | None, str | None]] = ContextVar("telephony_call", default=(None, None))


def current_call() -> tuple[str | None, str | None]:
    """The ``(call_id, carrier)`` bound in this context; either is None when not known."""
    return _CALL.get()


def bind_call(call_id: str | None = None, carrier: str | None = None) -> None:
    """Name the call this task works on, for the rest of the task (or the enclosing :func:`call_context`).

    A value left out keeps what is bound already, so the server may bind the carrier and the
    engine the call id later in the same request.
    """
    bound_id, bound_carrier = _CALL.get()
    _CALL.set((call_id or bound_id, carrier or bound_carrier))


@contextmanager
def call_context(call_id: str | None = None, carrier: str | None = None) -> Iterator[None]:
    """Bind a call for the block only; whatever the block binds is undone when it ends.

    For code that works on several calls in turn in one task (the stale-call sweep) or serves
    requests one after another, so a call's id does not stick to the next one's lines.
    """
    token = _CALL.set(_CALL.get())
    try:
        bind_call(call_id, carrier)
        yield
    finally:
        _CALL.reset(token)


class CallContextFilter(logging.Filter):
    """Adds ``call_id`` and ``carrier`` (None when unknown) to every record a handler emits.

    Put it on a handler, not a logger: a logger's filters see only the records logged to that
    very logger, while a handler's see everything that reaches it. :func:`configure_logging`
    does this; a host with its own handlers adds one itself.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        """Copy the bound call onto ``record``; never drops a record."""
        call_id, carrier = _CALL.get()
        # A record built in another context (a queue handler's thread) keeps what it was given.
        if getattr(record, "call_id", None) is None:
            record.call_id = call_id
        if getattr(record, "carrier", None) is None:
            record.carrier = carrier
        return True


class TextFormatter(logging.Formatter):
    """``time LEVEL logger call=ID carrier=NAME: message``; the call part only when known."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s%(call_tag)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        """The line, with the call part filled in (empty for lines of no call)."""
        tag = ""
        call_id = getattr(record, "call_id", None)
        carrier = getattr(record, "carrier", None)
        if call_id:
            tag += f" call={call_id}"
        if carrier:
            tag += f" carrier={carrier}"
        record.call_tag = tag
        return super().format(record)


_ENCODER: Final = msgspec.json.Encoder()
_OURS: Final = "_telephony_handler"  # marks the handler configure_logging installed


class JsonFormatter(logging.Formatter):
    """One JSON object a line: ``ts``, ``level``, ``logger``, ``message``, ``call_id``, ``carrier``.

    ``exc`` holds the traceback when there is one. Fields are fixed, so a log pipeline can index
    them without guessing.
    """

    def format(self, record: logging.LogRecord) -> str:
        """The record as one line of JSON."""
        data: dict[str, object] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "call_id": getattr(record, "call_id", None),
            "carrier": getattr(record, "carrier", None),
        }
        if record.exc_info:
            data["exc"] = self.formatException(record.exc_info)
        elif record.exc_text:
            data["exc"] = record.exc_text
        return _ENCODER.encode(data).decode()


def configure_logging(
    level: int | str = logging.INFO,
    log_format: LogFormat = "text",
    *,
    stream: IO[str] | None = None,
    logger: logging.Logger | None = None,
) -> logging.Handler | None:
    """Send log lines to ``stream`` (stderr) in ``log_format``, with the call context.

    Like :func:`logging.basicConfig`, it leaves alone a root logger that someone else has
    configured (a host application, a test runner) and returns None; a handler it installed
    before is replaced, so the ``telephony`` command can switch format once its config is read.

    Args:
        level: The root logger's level.
        log_format: ``text`` or ``json``.
        stream: Where lines go; stderr by default.
        logger: The logger to configure instead of the root logger.

    Returns:
        The handler installed, or None when the logger was configured by someone else.
    """
    target = logger or logging.getLogger()
    ours = [handler for handler in target.handlers if getattr(handler, _OURS, False)]
    if len(ours) != len(target.handlers):
        return None
    for old in ours:
        target.removeHandler(old)
    handler = logging.StreamHandler(stream or sys.stderr)
    setattr(handler, _OURS, True)
    handler.addFilter(CallContextFilter())
    handler.addFilter(SECRETS)
    handler.setFormatter(JsonFormatter() if log_format == "json" else TextFormatter())
    target.addHandler(handler)
    target.setLevel(level.upper() if isinstance(level, str) else level)
    return handler
