"""A framework-neutral view of a webhook request and its answer.

Adapters never see the web framework's request object: the server builds this, with ``url``
already rebuilt from the configured public URL, so signature checks use what the carrier
actually requested rather than what a proxy forwarded.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from urllib.parse import parse_qsl, urlsplit

import msgspec

from ._identity import CallIdentity


class WebhookRequest(msgspec.Struct, frozen=True, kw_only=True):
    """One inbound webhook.

    Attributes:
        method: ``GET`` or ``POST``.
        url: The public URL the carrier requested, query string included.
        headers: Header names lower-cased.
        body: The raw body, as received (signatures cover raw bytes).
    """

    method: str
    url: str
    headers: Mapping[str, str]
    body: bytes = b""

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())

    @property
    def query(self) -> dict[str, str]:
        """Query parameters of ``url`` (last value wins)."""
        return dict(parse_qsl(urlsplit(self.url).query, keep_blank_values=True))

    def identity(self) -> CallIdentity | None:
        """The call identity a markup carrier's callback URL carries, if any."""
        return CallIdentity.from_query(self.query)

    def form(self) -> dict[str, list[str]]:
        """Form parameters: the body for a POST, the query string for a GET."""
        params: dict[str, list[str]] = {}
        for key, value in self._pairs():
            params.setdefault(key, []).append(value)
        return params

    def fingerprint(self) -> str:
        """A stable identity for deduplication: a carrier retry of this request yields the same."""
        digest = hashlib.sha256()
        for part in (self.method.encode(), self.url.encode(), self.body):
            digest.update(len(part).to_bytes(8, "big"))
            digest.update(part)
        return digest.hexdigest()

    def form_fingerprint(self) -> str:
        """Like :meth:`fingerprint`, over what a form signature covers: the URL and sorted params.

        Twilio and Plivo sign the URL and the parameters sorted by name, not the raw body, so a
        body with the same parameters in another order (or otherwise re-encoded) is the same
        signed request; keyed on the raw body it would run a caller's turn a second time.
        """
        digest = hashlib.sha256()
        pairs = sorted(self._pairs()) if self.method == "POST" else []
        for part in (self.method, self.url, *(f"{key}={value}" for key, value in pairs)):
            encoded = part.encode()
            digest.update(len(encoded).to_bytes(8, "big"))
            digest.update(encoded)
        return digest.hexdigest()

    def form_single(self) -> dict[str, str]:
        """Form parameters with the first value of each name (one pass: this is per webhook)."""
        params: dict[str, str] = {}
        for key, value in self._pairs():
            params.setdefault(key, value)
        return params

    def _pairs(self) -> list[tuple[str, str]]:
        raw = self.body.decode("utf-8", "replace") if self.method == "POST" else urlsplit(self.url).query
        return parse_qsl(raw, keep_blank_values=True)


class WebhookReply(msgspec.Struct, frozen=True, kw_only=True):
    """What the server sends back to the carrier."""

    status: int = 200
    content_type: str = "text/plain"
    body: bytes = b""
