"""An httpx transport for the twilio SDK's async API.

The SDK's own async client is aiohttp-based; ours reuses one pooled ``httpx.AsyncClient``
(respx can mock it in tests) and can point the SDK at a Twilio-compatible backend or edge.
"""

from __future__ import annotations

import logging
from urllib.parse import urlsplit, urlunsplit

import httpx
from twilio.http import AsyncHttpClient
from twilio.http.response import Response

from telephony.providers import CallControlError, retry_after_seconds

_log = logging.getLogger("telephony.twilio.http")


class HttpxTwilioClient(AsyncHttpClient):  # type: ignore[misc]
    """Implements the SDK's ``AsyncHttpClient`` on httpx.

    Args:
        base_url: Replaces the scheme and host of every SDK request when set.
        timeout: Seconds per request.
    """

    def __init__(self, *, base_url: str | None = None, timeout: float = 15.0) -> None:
        super().__init__(_log, True, timeout)
        self._base = urlsplit(base_url.rstrip("/")) if base_url else None
        self._client = httpx.AsyncClient(timeout=timeout)

    def _rewrite(self, url: str) -> str:
        if self._base is None:
            return url
        parts = urlsplit(url)
        path = self._base.path + parts.path
        return urlunsplit((self._base.scheme, self._base.netloc, path, parts.query, parts.fragment))

    async def request(
        self,
        method: str,
        url: str,
        params: dict[str, object] | None = None,
        data: dict[str, object] | None = None,
        headers: dict[str, str] | None = None,
        auth: tuple[str, str] | None = None,
        timeout: float | None = None,
        allow_redirects: bool = False,
    ) -> Response:
        try:
            response = await self._client.request(
                method.upper(),
                self._rewrite(url),
                params=params,  # type: ignore[arg-type]
                data=data,
                headers=headers,
                auth=auth,
                timeout=timeout or self.timeout,
                follow_redirects=allow_redirects,
            )
        except httpx.TransportError as exc:
            raise CallControlError(
                f"cannot reach the Twilio API: {type(exc).__name__}", transient=True
            ) from None
        # Only method, path and status: query strings and bodies may carry phone numbers.
        _log.debug("%s %s -> %s", method.upper(), urlsplit(url).path, response.status_code)
        if response.status_code >= 500 or response.status_code == 429:
            # Raised here, not by the SDK, so the carrier's Retry-After reaches the retry loop.
            raise CallControlError(
                f"Twilio API answered HTTP {response.status_code} ({response.reason_phrase})",
                status=response.status_code,
                retry_after=retry_after_seconds(response.headers),
            )
        return Response(response.status_code, response.text, response.headers)

    async def aclose(self) -> None:
        await self._client.aclose()
