"""Telnyx's v2 REST API over one pooled async HTTP client, shared by responder and call control.

No SDK: the official one takes seconds to import, and each command is one JSON POST.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any, Final
from urllib.parse import quote, urlsplit

import httpx

from telephony.providers import CallControlError, CallRef, parse_decimal, retry_after_seconds

_log = logging.getLogger("telephony.telnyx.http")

DEFAULT_BASE_URL: Final = "https://api.telnyx.com"
ALREADY_ENDED: Final = "90018"
"""Telnyx's error code for a command on a call that has already ended."""


class TelnyxApi:
    """``POST /v2/...`` with Bearer auth; errors become :class:`CallControlError`.

    Args:
        api_key: The v2 API key; sent only in the Authorization header, never logged.
        base_url: Replaces the scheme and host (and prefixes the path) of every request.
        timeout: Seconds per request.
    """

    def __init__(self, api_key: str, *, base_url: str | None = None, timeout: float = 10.0) -> None:
        origin = (base_url or DEFAULT_BASE_URL).rstrip("/")
        self._http = httpx.AsyncClient(
            base_url=f"{origin}/v2",
            timeout=timeout,
            headers={"authorization": f"Bearer {api_key}", "accept": "application/json"},
        )

    async def post(self, path: str, body: Mapping[str, Any], *, gone_ok: bool = False) -> dict[str, Any]:
        """POST ``body`` as JSON; return the response's ``data`` object.

        Args:
            path: Under ``/v2`` (``/calls``, ``/calls/{id}/actions/speak``).
            body: The JSON body.
            gone_ok: Error 90018 ("call has already ended") counts as success.

        Raises:
            CallControlError: The API could not be reached or refused the command; the
                message names the path's last part, the status and Telnyx's error code and
                title, never the key or the body (it holds phone numbers).
        """
        what = "dial" if path == "/calls" else path.rsplit("/", 1)[-1]
        try:
            response = await self._http.post(path, json=dict(body))
        except httpx.HTTPError as exc:
            raise CallControlError(
                f"cannot reach the Telnyx API ({what}): {type(exc).__name__}", transient=True
            ) from None
        _log.debug("POST %s -> %s", urlsplit(str(response.request.url)).path, response.status_code)
        if response.is_error:
            code, title = _error(response)
            if gone_ok and code == ALREADY_ENDED:
                return {}
            detail = f"error {code}: {title}" if code else "no error code"
            raise CallControlError(
                f"Telnyx {what} failed with HTTP {response.status_code} ({detail})",
                status=response.status_code,
                code=parse_decimal(code, max_digits=9),
                retry_after=retry_after_seconds(response.headers),
            )
        try:
            data = response.json().get("data") if response.content else None
        except (ValueError, AttributeError):
            data = None
        return data if isinstance(data, dict) else {}

    async def command(
        self, call: CallRef, name: str, body: Mapping[str, Any], *, gone_ok: bool = False
    ) -> None:
        """``POST /calls/{call_control_id}/actions/{name}``: one command on a live call."""
        await self.post(f"/calls/{_control_id(call)}/actions/{name}", body, gone_ok=gone_ok)

    async def aclose(self) -> None:
        """Close the pooled connections."""
        await self._http.aclose()


def _error(response: httpx.Response) -> tuple[str | None, str]:
    """The first error's code and title from ``{"errors": [{"code": "90018", "title": ...}]}``."""
    try:
        errors = response.json().get("errors")
        first = errors[0] if isinstance(errors, list) and errors else {}
        code, title = first.get("code"), first.get("title")
    except (ValueError, AttributeError, TypeError):
        return None, response.reason_phrase
    return (str(code) if code is not None else None), (str(title) if title else response.reason_phrase)


def _control_id(call: CallRef) -> str:
    if not call.provider_call_id:
        raise CallControlError(f"call {call.call_id} has no Telnyx call_control_id yet")
    return quote(call.provider_call_id, safe=":-_.~")  # a v3:... id, kept to one path segment
