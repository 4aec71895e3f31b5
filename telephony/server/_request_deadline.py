"""uvicorn's HTTP/1.1 protocol with a deadline for receiving each request whole.

uvicorn bounds only the idle time after a response (``timeout_keep_alive``). A client that
connects and sends nothing, sends half its headers, or declares a body and sends part of it,
then stalls, holds the connection (and, for a body, the handler awaiting it) for as long as it
likes: a few hundred such clients exhaust the server's file descriptors. Here every request
must have arrived, headers and body, within a deadline counted from the connection's opening or
from the end of the previous response; a connection that misses it is answered 408 and closed.
Time the app spends on a request that has arrived is not counted.

It extends uvicorn's h11 protocol, so we serve HTTP/1.1 with h11 even where httptools is
installed; our HTTP traffic is webhooks and control calls, and the media goes over WebSockets.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, ClassVar, Final, cast

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

from ..observability import RateLimitedLog

__all__ = ["DEFAULT_REQUEST_TIMEOUT_MS", "RequestDeadlineProtocol", "request_deadline_protocol"]

DEFAULT_REQUEST_TIMEOUT_MS: Final = 10_000

_TIMED_OUT_BODY: Final = b"request not received in time\n"
_TIMED_OUT: Final = (
    b"HTTP/1.1 408 Request Timeout\r\ncontent-type: text/plain; charset=utf-8\r\nconnection: close\r\n"
    + b"content-length: %d\r\n\r\n" % len(_TIMED_OUT_BODY)
    + _TIMED_OUT_BODY
)
#: The peer's states in which we are waiting for (the rest of) a request.
_RECEIVING: Final = (h11.IDLE, h11.SEND_BODY)

_TIMEOUTS = RateLimitedLog(logging.getLogger("telephony.server"), what="timed-out connections")


class RequestDeadlineProtocol(H11Protocol):
    """:class:`H11Protocol` that closes a connection whose request does not arrive in time.

    Use :func:`request_deadline_protocol` to get one with a given deadline; uvicorn takes the
    class as its ``http`` setting.
    """

    request_timeout: ClassVar[float] = DEFAULT_REQUEST_TIMEOUT_MS / 1000

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._deadline: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        """Start the clock for the first request."""
        super().connection_made(transport)
        self._arm()

    def connection_lost(self, exc: Exception | None) -> None:
        """Stop the clock."""
        self._disarm()
        super().connection_lost(exc)

    def on_response_complete(self) -> None:
        """Start the clock for the next request on this connection."""
        super().on_response_complete()
        if not self.transport.is_closing():
            self._arm()

    def handle_websocket_upgrade(self, event: h11.Request) -> None:
        """The WebSocket protocol owns the connection from here; its frames have limits of their own."""
        self._disarm()
        super().handle_websocket_upgrade(event)

    def _arm(self) -> None:
        self._disarm()
        self._deadline = self.loop.call_later(self.request_timeout, self._expire)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _expire(self) -> None:
        self._deadline = None
        if self.transport.is_closing() or self.conn.their_state not in _RECEIVING:
            return  # the request arrived; the app's time is its own
        client = f"{self.client[0]}:{self.client[1]}" if self.client else "a client"
        _TIMEOUTS.warning(
            "closed the connection of %s: no whole request within %s s", client, self.request_timeout
        )
        if self.cycle is None or self.cycle.response_complete or not self.cycle.response_started:
            self.transport.write(_TIMED_OUT)
        self.transport.close()


def request_deadline_protocol(timeout_ms: int = DEFAULT_REQUEST_TIMEOUT_MS) -> type[RequestDeadlineProtocol]:
    """The protocol class for uvicorn's ``http`` setting, with a deadline of ``timeout_ms``."""
    attributes = {"request_timeout": timeout_ms / 1000}
    return cast(
        type[RequestDeadlineProtocol],
        type(f"RequestDeadlineProtocol{timeout_ms}ms", (RequestDeadlineProtocol,), attributes),
    )
