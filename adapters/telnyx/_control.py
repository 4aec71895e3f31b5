"""Telnyx call control: Dial, hang up; Call Control takes commands, so it is never redirected."""

from __future__ import annotations

import uuid
from typing import Any

from telephony.providers import (
    DEFAULT_RETRY,
    CallControlError,
    CallIdentity,
    CallRef,
    DialCallbacks,
    PlacedCall,
    RetryPolicy,
    retry_transient,
)

from ._api import TelnyxApi
from ._responder import PLAYBACK_CODEC


class TelnyxCallControl:
    """Place calls through the Call Control application; hang-up is idempotent (90018).

    Args:
        api: The shared REST client.
        connection_id: The Call Control application's id, required by Dial.
        retry: How a hang-up is retried on network errors, 5xx and 429.
    """

    def __init__(self, api: TelnyxApi, *, connection_id: str, retry: RetryPolicy = DEFAULT_RETRY) -> None:
        self._api = api
        self._retry = retry
        self._connection_id = connection_id

    async def place_call(self, call: CallRef, callbacks: DialCallbacks) -> PlacedCall:
        """``POST /v2/calls``; our identity goes as client state, so ``call.answered`` names our call."""
        if not (call.to_number and call.from_number):
            raise CallControlError(f"call {call.call_id} needs both a to and a from number to dial")
        body: dict[str, Any] = {
            "connection_id": self._connection_id,
            "to": call.to_number,
            "from": call.from_number,
            "webhook_url": callbacks.status_url,
            "webhook_url_method": "POST",
            "client_state": callbacks.identity.client_state(),
            "timeout_secs": max(5, min(600, round(callbacks.ring_timeout_seconds))),  # Telnyx: 5-600
            # Telnyx ignores a second Dial with the same command_id: one call per call id.
            "command_id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"telephony-dial/{call.call_id}")),
        }
        if callbacks.time_limit_seconds:
            body["time_limit_secs"] = max(30, min(14400, round(callbacks.time_limit_seconds)))
        if callbacks.machine_detection:
            body["answering_machine_detection"] = "detect"
        if callbacks.stream is not None:
            body |= {
                "stream_url": callbacks.stream.url,
                "stream_track": "inbound_track",
                "stream_bidirectional_mode": "rtp",
                "stream_bidirectional_codec": PLAYBACK_CODEC,
            }
        created = await self._api.post("/calls", body)
        control_id = created.get("call_control_id")
        if not isinstance(control_id, str) or not control_id:
            raise CallControlError("Telnyx dial answered without a call_control_id")
        return PlacedCall(provider_call_id=control_id, status="queued")

    async def redirect(self, call: CallRef, url: str) -> None:
        """Never used for a command carrier; a clear error if asked."""
        raise CallControlError("Telnyx Call Control takes commands: calls cannot be redirected to markup")

    async def hangup(self, call: CallRef) -> None:
        """Hang up; a call that has already ended (error 90018) counts as hung up."""
        body = {"client_state": CallIdentity(call_id=call.call_id).client_state()}

        async def attempt() -> None:
            await self._api.command(call, "hangup", body, gone_ok=True)

        # Hanging up an ended call is error 90018, which counts as done: safe to repeat.
        await retry_transient(attempt, what="Telnyx hang-up", call_id=call.call_id, policy=self._retry)

    async def aclose(self) -> None:
        """Close the shared HTTP client."""
        await self._api.aclose()
