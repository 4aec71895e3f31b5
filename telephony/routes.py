"""One object for every public URL, shared by the server (which mounts) and the engine (which advertises).

Building markup URLs from the same object the server mounts is what makes an advertised but
unserved stream path impossible. The same object rebuilds the URL a carrier signed, so what we
verify against and what we hand out cannot drift apart.

Where the app sits below the server root has two sources. A request knows it for sure (the
ASGI ``root_path`` a Starlette ``Mount`` or ``uvicorn --root-path`` sets), and the server
publishes it for the duration of the request with :func:`request_root_path`: URLs built while a
webhook or control request is handled (gather actions, stream URLs, outbound callbacks) use it.
Outside a request (the start-up log, the carrier's context, a call placed from Python) the
``root_path`` given when the routes were built is used.

A stream URL carries its call's id and single-use token as the last two path segments
(``<streamPath>/<callId>/<token>``): carriers keep a URL's path but may drop its query string,
and a credential in the path is checked on the HTTP upgrade, before a socket is accepted.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from urllib.parse import quote, urlencode, urlsplit

import msgspec

from telephony.providers import CallIdentity

from .urls import join_path

__all__ = ["STREAM_CREDENTIAL_SEGMENTS", "Routes", "request_root_path"]

STREAM_CREDENTIAL_SEGMENTS = "/{call_id:str}/{token:str}"
"""What follows ``streamPath`` in the credentialed stream route, as Litestar path parameters."""

_REQUEST_ROOT_PATH: ContextVar[str | None] = ContextVar("telephony_request_root_path", default=None)


@contextmanager
def request_root_path(root_path: str) -> Iterator[None]:
    """Within the block, URLs are built for an app mounted at ``root_path`` (the request's)."""
    token = _REQUEST_ROOT_PATH.set(root_path.rstrip("/"))
    try:
        yield
    finally:
        _REQUEST_ROOT_PATH.reset(token)


class Routes(msgspec.Struct, frozen=True, kw_only=True):
    """Paths served and the public base URL carriers reach them on.

    Attributes:
        public_url: ``scheme://host[:port][/prefix]`` as the carrier sees it: ``publicUrl``
            read as a base (see :func:`telephony.urls.public_base`).
        webhook_path: Where carrier webhooks land, relative to the routes' prefix.
        stream_path: Where media WebSockets are upgraded, or None when streaming is off.
        root_path: Where a host mounts the app (the ASGI ``root_path``), assumed outside a request.
        prefix: The path the routes are registered under inside the app (the Litestar
            plugin's ``path``); ``""`` for the standalone app.
    """

    public_url: str
    webhook_path: str
    stream_path: str | None = None
    root_path: str = ""
    prefix: str = ""

    def base_url(self, root_path: str | None = None) -> str:
        """The public URL the routes sit under: base, mount and prefix, each shared part once.

        Args:
            root_path: The app's mount; by default the current request's, else :attr:`root_path`.
        """
        if root_path is None:
            root_path = _REQUEST_ROOT_PATH.get()
        if root_path is None:
            root_path = self.root_path
        return join_path(self.public_url, root_path.rstrip("/") + self.prefix)

    def webhook_url(
        self, *, kind: str | None = None, call_id: str | None = None, turn: int | None = None
    ) -> str:
        """The absolute webhook URL, tagged with what the callback is, for which call and turn.

        A call's URLs carry its :class:`CallIdentity`, rendered by the identity itself; a URL for
        no call in particular (the status callback set in a carrier's console) only its kind.
        """
        if call_id:
            params = CallIdentity(call_id=call_id, kind=kind, turn=turn).query()
        else:
            params = {"kind": kind} if kind else {}
        query = f"?{urlencode(params)}" if params else ""
        return f"{self.base_url()}{self.webhook_path}{query}"

    def stream_routes(self) -> tuple[str, str]:
        """The stream routes to mount: the bare ``streamPath``, and the one with a credential.

        The credentialed route is the one :meth:`stream_url` advertises; the bare one serves
        sockets that name their call only in the ``start`` message (a custom adapter, older markup).
        """
        if self.stream_path is None:
            raise RuntimeError("streaming is not enabled, so no stream route is mounted")
        return self.stream_path, self.stream_path + STREAM_CREDENTIAL_SEGMENTS

    def stream_url(self, call_id: str | None = None, token: str | None = None) -> str:
        """The ``wss://`` (or ``ws://``) URL of a mounted stream route.

        With ``call_id`` and ``token``, the URL of that call's stream, credential in the path
        (what a carrier is given); without them, the bare route (what the start-up log shows).
        """
        bare, _ = self.stream_routes()
        parts = urlsplit(self.base_url())
        scheme = "wss" if parts.scheme == "https" else "ws"
        url = f"{scheme}://{parts.netloc}{parts.path}{bare}"
        if call_id is None and token is None:
            return url
        if not call_id or not token:
            raise ValueError("a stream URL names both its call and its token, or neither")
        return f"{url}/{quote(call_id, safe='')}/{quote(token, safe='')}"
