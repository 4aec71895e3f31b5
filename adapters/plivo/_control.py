"""Plivo call control over its REST API, on one pooled ``httpx.AsyncClient``.

The plivo SDK is synchronous (``requests``); calling it would block the event loop, so the
few requests we need are made here directly: create a call, hang up, transfer a live call to
new instructions.
"""

from __future__ import annotations

import logging
import re
from typing import Any, Final
from urllib.parse import urlsplit

import httpx

from telephony.providers import (
    DEFAULT_RETRY,
    CallControlError,
    CallRef,
    DialCallbacks,
    PlacedCall,
    RetryPolicy,
    retry_after_seconds,
    retry_transient,
)

from ._xml import plivo_number

API: Final = "https://api.plivo.com"
_log = logging.getLogger("telephony.plivo.http")
_DIGITS = re.compile(r"\+?\d{5,}")  # phone numbers in a carrier's error text stay out of logs


class PlivoCallControl:
    """Place, transfer and hang up calls.

    Args:
        auth_id: The account id; REST paths and Basic auth use it.
        auth_token: The account's auth token (Basic auth password).
        base_url: Replaces the scheme and host of every request when set.
        timeout: Seconds per request.
        retry: How a hang-up is retried on network errors, 5xx and 429.
    """

    def __init__(
        self,
        *,
        auth_id: str,
        auth_token: str,
        base_url: str | None = None,
        timeout: float = 15.0,
        retry: RetryPolicy = DEFAULT_RETRY,
    ) -> None:
        self._retry = retry
        self._auth = httpx.BasicAuth(auth_id, auth_token)
        self._account = f"/v1/Account/{auth_id}"
        origin = urlsplit((base_url or API).rstrip("/"))
        self._origin = f"{origin.scheme}://{origin.netloc}{origin.path}"
        self._timeout = timeout
        self._client: httpx.AsyncClient | None = None

    def _http(self) -> httpx.AsyncClient:
        if self._client is None:
            self._client = httpx.AsyncClient(timeout=self._timeout, auth=self._auth)
        return self._client

    async def _request(
        self, method: str, path: str, *, json: dict[str, Any] | None = None, gone_ok: bool = False
    ) -> httpx.Response | None:
        """One request; None for a 404 when ``gone_ok`` (the call had already ended)."""
        url = f"{self._origin}{self._account}{path}"
        try:
            response = await self._http().request(method, url, json=json)
        except httpx.TransportError as exc:
            raise CallControlError(
                f"cannot reach the Plivo API: {type(exc).__name__}", transient=True
            ) from None
        # Method, resource and status only: bodies carry phone numbers.
        _log.debug("%s %s -> %s", method, path.split("/")[1] if "/" in path else path, response.status_code)
        if gone_ok and response.status_code == 404:
            return None
        if response.status_code >= 400:
            raise CallControlError(
                f"Plivo API error {response.status_code}: {_error_text(response)}",
                status=response.status_code,
                retry_after=retry_after_seconds(response.headers),
            )
        return response

    async def place_call(self, call: CallRef, callbacks: DialCallbacks) -> PlacedCall:
        """Create the call; Plivo answers with a ``request_uuid``, not yet the call's ``CallUUID``.

        The answer URL serves the call's first instructions (a stream too: Plivo's Call API
        takes no inline XML), and every progress callback goes to the status URL.
        """
        if not call.to_number or not call.from_number:
            raise CallControlError(f"call {call.call_id} needs a from and a to number")
        body: dict[str, Any] = {
            "from": plivo_number(call.from_number),
            "to": plivo_number(call.to_number),
            "answer_url": callbacks.answer_url,
            "answer_method": "POST",
            "hangup_url": callbacks.status_url,
            "hangup_method": "POST",
            "ring_url": callbacks.status_url,
            "ring_method": "POST",
            "ring_timeout": max(1, round(callbacks.ring_timeout_seconds)),
        }
        if callbacks.time_limit_seconds:
            body["time_limit"] = max(1, round(callbacks.time_limit_seconds))
        if callbacks.machine_detection:
            body |= {
                "machine_detection": "true",
                "machine_detection_url": callbacks.status_url,
                "machine_detection_method": "POST",
            }
        response = await self._request("POST", "/Call/", json=body)
        assert response is not None
        request_uuid = _json(response).get("request_uuid")
        if not isinstance(request_uuid, str) or not request_uuid:
            raise CallControlError("Plivo accepted the call but returned no request_uuid")
        return PlacedCall(provider_call_id=request_uuid, status="queued", provisional=True)

    async def redirect(self, call: CallRef, url: str) -> None:
        """Transfer the live call to ``url``: Plivo fetches its next XML from there."""
        body = {"legs": "aleg", "aleg_url": url, "aleg_method": "POST"}
        await self._request("POST", f"/Call/{_uuid(call)}/", json=body)

    async def hangup(self, call: CallRef) -> None:
        """End the call; one that has already ended counts as success.

        Until the first callback binds the ``CallUUID``, our id for the call is its
        ``request_uuid``; a call still queued or ringing is cancelled through the Request
        resource then.
        """
        uuid = _uuid(call)

        async def attempt() -> None:
            if await self._request("DELETE", f"/Call/{uuid}/", gone_ok=True) is None:
                await self._request("DELETE", f"/Request/{uuid}/", gone_ok=True)

        # Deleting a deleted call is a 404, which counts as done: safe to repeat.
        await retry_transient(attempt, what="Plivo hang-up", call_id=call.call_id, policy=self._retry)

    async def aclose(self) -> None:
        """Close the pooled client."""
        if self._client is not None:
            await self._client.aclose()
            self._client = None


def _uuid(call: CallRef) -> str:
    if not call.provider_call_id:
        raise CallControlError(f"call {call.call_id} has no Plivo CallUUID yet")
    return call.provider_call_id


def _json(response: httpx.Response) -> dict[str, Any]:
    try:
        data = response.json()
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def _error_text(response: httpx.Response) -> str:
    """Plivo's ``error`` message, trimmed, with anything like a phone number removed."""
    error = _json(response).get("error")
    text = error if isinstance(error, str) else response.reason_phrase or "request failed"
    return _DIGITS.sub("<number>", text)[:200]
