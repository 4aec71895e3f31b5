"""One object for every public URL, shared by the server (which mounts) and the engine (which advertises).

Building markup URLs from the same object the server mounts is what makes an advertised but
unserved stream path impossible.
"""

from __future__ import annotations

from urllib.parse import urlencode, urlsplit

import msgspec


class Routes(msgspec.Struct, frozen=True, kw_only=True):
    """Paths served and the public base URL carriers reach them on.

    Attributes:
        public_url: ``scheme://host[:port][/prefix]`` as the carrier sees it.
        webhook_path: Where carrier webhooks land.
        stream_path: Where media WebSockets are upgraded, or None when streaming is off.
    """

    public_url: str
    webhook_path: str
    stream_path: str | None = None

    def webhook_url(
        self, *, kind: str | None = None, call_id: str | None = None, turn: int | None = None
    ) -> str:
        """The absolute webhook URL, tagged with what the callback is, for which call and turn."""
        pairs = (("callId", call_id), ("kind", kind), ("turn", str(turn) if turn else None))
        params = {key: value for key, value in pairs if value}
        query = f"?{urlencode(params)}" if params else ""
        return f"{self.public_url}{self.webhook_path}{query}"

    def stream_url(self) -> str:
        """The ``wss://`` (or ``ws://``) URL of the mounted stream route."""
        if self.stream_path is None:
            raise RuntimeError("streaming is not enabled, so no stream route is mounted")
        parts = urlsplit(self.public_url)
        scheme = "wss" if parts.scheme == "https" else "ws"
        return f"{scheme}://{parts.netloc}{parts.path}{self.stream_path}"
