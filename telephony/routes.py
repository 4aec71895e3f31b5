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
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from urllib.parse import urlencode, urlsplit

import msgspec

from .urls import join_path

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
        """The absolute webhook URL, tagged with what the callback is, for which call and turn."""
        pairs = (("callId", call_id), ("kind", kind), ("turn", str(turn) if turn else None))
        params = {key: value for key, value in pairs if value}
        query = f"?{urlencode(params)}" if params else ""
        return f"{self.base_url()}{self.webhook_path}{query}"

    def stream_url(self) -> str:
        """The ``wss://`` (or ``ws://``) URL of the mounted stream route."""
        if self.stream_path is None:
            raise RuntimeError("streaming is not enabled, so no stream route is mounted")
        parts = urlsplit(self.base_url())
        scheme = "wss" if parts.scheme == "https" else "ws"
        return f"{scheme}://{parts.netloc}{parts.path}{self.stream_path}"
