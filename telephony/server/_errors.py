"""Which HTTP status answers which error: the one table every route of the server uses.

Handlers raise; they never pick statuses themselves. Webhook routes answer in plain text (a
carrier logs the body), control routes in JSON (``{"error": ...}``), and both take the status
from :func:`status_for`. An error nobody raised on purpose is logged with its traceback and
answered 500 without details, so a failing adapter is visible in the log and leaks nothing.
"""

from __future__ import annotations

import logging
from typing import Any, Final

from litestar import Request, Response
from litestar.exceptions import InternalServerException
from litestar.status_codes import HTTP_500_INTERNAL_SERVER_ERROR
from litestar.types import ExceptionHandlersMap, Scope

from telephony.providers import CallControlError, TelephonyError, WebhookRejected

from ..bus import ControlFailed, ControlTimeout, ControlUnavailable
from ..engine import CallLimitReached, CallNotFound, CallNotLive, Draining
from ..observability import RateLimitedLog
from ..store import StoreUnavailable
from ._claims import StillRunning
from ._control_guard import CrossSiteRequest, ForeignHost, NotJson, TooManyAttempts

__all__ = [
    "JSON_ERRORS",
    "STATUSES",
    "TEXT_ERRORS",
    "InvalidRequest",
    "NotServing",
    "TextTooLong",
    "log_refusal",
    "status_for",
]

_log = logging.getLogger("telephony.server")


class InvalidRequest(TelephonyError):
    """A request body or parameter is malformed; nothing was changed."""


class TextTooLong(InvalidRequest):
    """A text field is well formed but longer than a call can carry (422)."""


class NotServing(TelephonyError):
    """The runtime is not running: its start-up did not run, or it has shut down."""


#: Statuses by error type; the first entry the error is an instance of wins.
STATUSES: Final[tuple[tuple[type[TelephonyError], int], ...]] = (
    (TextTooLong, 422),
    (NotJson, 415),
    (CrossSiteRequest, 403),
    (ForeignHost, 421),
    (TooManyAttempts, 429),
    (InvalidRequest, 400),
    (CallNotFound, 404),
    (CallNotLive, 409),
    (CallLimitReached, 429),
    (Draining, 503),
    (NotServing, 503),
    (StillRunning, 503),
    (StoreUnavailable, 503),
    (ControlUnavailable, 502),
    (ControlFailed, 502),
    (ControlTimeout, 504),
    # Anything else the framework raises on purpose is a refusal of what was asked.
    (TelephonyError, 400),
)


def status_for(exc: BaseException) -> int:
    """The HTTP status that answers ``exc``.

    A webhook refusal carries its own status (401 unsigned, 403 forged, 400 malformed, 413 too
    large). A carrier that refused a command made us ask something it considers wrong (400); a
    carrier that failed or could not be reached is a bad gateway (502).
    """
    if isinstance(exc, WebhookRejected):
        return exc.status
    if isinstance(exc, CallControlError):
        return 400 if exc.status is not None and 400 <= exc.status < 500 else 502
    for kind, status in STATUSES:
        if isinstance(exc, kind):
            return status
    return HTTP_500_INTERNAL_SERVER_ERROR


_REJECTIONS = RateLimitedLog(_log)


def _client_went_away(exc: Exception) -> bool:
    """Whether Litestar gave up reading a body because the client disconnected (or was cut off).

    Nobody hears the answer, and it is no fault of ours: a client that stalls mid-body is cut
    off by the request deadline, and must not be able to fill the log with tracebacks.
    """
    return isinstance(exc, InternalServerException) and exc.detail == "client disconnected prematurely"


_REFUSAL_LOGGED: Final = "telephony.refusal_logged"
"""Scope key: this request's refusal has been logged already, with its reason."""


def log_refusal(scope: Scope, message: str, *args: object) -> None:
    """Log a refused request at most once, within the shared budget of ten lines a minute.

    The error handlers log the refusals they answer, with the reason; the server's middleware
    then logs, by method, path and status, the 4xx answers refused elsewhere (guards, body
    limits). Errors (5xx) are logged in full where they happen, never held back.
    """
    if not scope.get(_REFUSAL_LOGGED):
        scope[_REFUSAL_LOGGED] = True  # type: ignore[typeddict-unknown-key]
        _REJECTIONS.warning(message, *args)


# 503s that are the plan, not a fault: a stopping server, a copy of a webhook still running, a
# store outage (logged once for the whole outage by the store's health, not once per request).
_EXPECTED_UNAVAILABLE: Final = (Draining, StillRunning, StoreUnavailable)


def _describe(request: Request[Any, Any, Any], exc: Exception) -> tuple[int, str]:
    status = status_for(exc)
    if _client_went_away(exc):
        _REJECTIONS.warning(
            "%s %s: the client went away before its request was read", request.method, request.url.path
        )
        return status, "client disconnected"
    if not isinstance(exc, TelephonyError):
        _log.error("%s %s failed", request.method, request.url.path, exc_info=exc)
        return status, "internal error; the server log has the details"
    if isinstance(exc, WebhookRejected):
        log_refusal(request.scope, "webhook rejected (%s): %s", status, exc.reason)
        return status, exc.reason
    if status >= 500 and not isinstance(exc, _EXPECTED_UNAVAILABLE):
        _log.error("%s %s: %s", request.method, request.url.path, exc)
    else:
        log_refusal(request.scope, "%s %r refused (%s): %s", request.method, request.url.path, status, exc)
    return status, str(exc)


def _as_json(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    status, message = _describe(request, exc)
    headers = {"Retry-After": str(exc.retry_after)} if isinstance(exc, TooManyAttempts) else None
    return Response({"error": message}, status_code=status, headers=headers)


def _as_text(request: Request[Any, Any, Any], exc: Exception) -> Response[bytes]:
    status, message = _describe(request, exc)
    return Response(content=message.encode(), status_code=status, media_type="text/plain")


#: For control routes: ``{"error": message}``.
JSON_ERRORS: Final[ExceptionHandlersMap] = {
    TelephonyError: _as_json,
    HTTP_500_INTERNAL_SERVER_ERROR: _as_json,
}

#: For carrier-facing routes: the reason as plain text.
TEXT_ERRORS: Final[ExceptionHandlersMap] = {
    TelephonyError: _as_text,
    HTTP_500_INTERNAL_SERVER_ERROR: _as_text,
}
