"""Acme's REST API over one pooled async HTTP client."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

import httpx
from telephony.providers import CallControlError, CallRef

from ._settings import AcmeSettings

# Error codes that mean a command was already carried out. A webhook whose handling failed is
# retried by Acme and handled again, so its commands may be sent twice.
_ALREADY_DONE: Final = {
    "answer": frozenset({"already_answered"}),
    "hangup": frozenset({"call_ended", "call_not_found"}),  # hang-up is idempotent
}


class AcmeApi:
    """Acme's REST API over one pooled async HTTP client, shared by responder and call control.

    Args:
        settings: The API key, base URL and timeout.
    """

    def __init__(self, settings: AcmeSettings) -> None:
        self._http = httpx.AsyncClient(
            base_url=settings.api_url,
            timeout=settings.timeout_seconds,
            headers={"authorization": f"Bearer {settings.api_key}"},
        )

    async def post(
        self, path: str, body: Mapping[str, Any], *, done: frozenset[str] = frozenset()
    ) -> dict[str, Any]:
        """POST ``body``; an error whose code is in ``done`` means "already done": success.

        Raises:
            CallControlError: for any other error, network errors included.
        """
        try:
            response = await self._http.post(path, json=body)
        except httpx.HTTPError as exc:
            raise CallControlError(f"cannot reach the Acme API: {type(exc).__name__}") from None
        if response.is_error:
            code = _code(response)
            if code in done:
                return {}
            raise CallControlError(
                f"Acme API error {response.status_code} ({code or 'no code'})",
                status=response.status_code,
            )
        result: dict[str, Any] = response.json() if response.content else {}
        return result

    async def command(self, call: CallRef, name: str, body: Mapping[str, Any]) -> None:
        """``POST /calls/{id}/actions/{name}``: one command on a live call."""
        path = f"/calls/{_call_id(call)}/actions/{name}"
        await self.post(path, body, done=_ALREADY_DONE.get(name, frozenset()))

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self._http.aclose()


def _code(response: httpx.Response) -> str | None:
    try:
        code = response.json().get("error", {}).get("code")
    except (ValueError, AttributeError):
        return None
    return code if isinstance(code, str) else None


def _call_id(call: CallRef) -> str:
    if not call.provider_call_id:
        raise CallControlError(f"call {call.call_id} has no Acme call id yet")
    return call.provider_call_id
