"""Dialing and hanging up over Acme's REST API."""

from __future__ import annotations

from typing import Any

from telephony.providers import CallControlError, CallRef, DialCallbacks, PlacedCall

from ._api import AcmeApi


class AcmeCallControl:
    """Dial and hang up over Acme's REST API; Acme takes commands, so it is never redirected.

    Args:
        api: The REST client shared with the responder.
    """

    def __init__(self, api: AcmeApi) -> None:
        self._api = api

    async def place_call(self, call: CallRef, callbacks: DialCallbacks) -> PlacedCall:
        """Dial ``call.to_number``; our identity goes out as client state."""
        body: dict[str, Any] = {
            "to": call.to_number,
            "from": call.from_number,
            "webhook_url": callbacks.status_url,  # every event of the call goes here
            "client_state": callbacks.identity.client_state(),
            "timeout_secs": max(5, min(120, round(callbacks.ring_timeout_seconds))),
        }
        if callbacks.time_limit_seconds:
            body["time_limit_secs"] = round(callbacks.time_limit_seconds)
        if callbacks.machine_detection:
            body["answering_machine_detection"] = "detect"
        if callbacks.stream is not None:
            body["stream_url"] = callbacks.stream.url
            body["stream_parameters"] = callbacks.stream.parameters
        created = await self._api.post("/calls", body)
        return PlacedCall(provider_call_id=str(created["call_id"]), status=created.get("state"))

    async def redirect(self, call: CallRef, url: str) -> None:
        """Never called on a command carrier; refuse loudly if it is."""
        raise CallControlError("Acme takes commands; the engine never redirects a command carrier")

    async def hangup(self, call: CallRef) -> None:
        """End the call; a call that already ended is success."""
        await self._api.command(call, "hangup", {})

    async def aclose(self) -> None:
        """Release the HTTP client (shared with the responder)."""
        await self._api.aclose()
