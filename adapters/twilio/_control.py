"""Twilio call control through the SDK's async REST API."""

from __future__ import annotations

from typing import Any, Final

from telephony.providers import (
    DEFAULT_RETRY,
    CallControlError,
    CallRef,
    DialCallbacks,
    PlacedCall,
    RetryPolicy,
    retry_transient,
)

from ._http import HttpxTwilioClient
from ._twiml import render_twiml

ALREADY_ENDED: Final = 20404  # "resource not found": the call is gone, so hanging up is done.
_STATUS_EVENTS: Final = ["initiated", "ringing", "answered", "completed"]


class TwilioCallControl:
    """Place, redirect and hang up calls. The SDK is imported on first use (it is slow to import).

    Args:
        account_sid: The account; with ``auth_token``, required once a request is made.
        auth_token: The account's auth token.
        base_url: Replaces the scheme and host of every SDK request when set.
        default_voice: The voice of inline TwiML.
        retry: How a hang-up is retried on network errors, 5xx and 429.
    """

    def __init__(
        self,
        *,
        account_sid: str | None,
        auth_token: str | None,
        base_url: str | None = None,
        default_voice: str | None = None,
        retry: RetryPolicy = DEFAULT_RETRY,
    ) -> None:
        self._account_sid = account_sid
        self._retry = retry
        self._auth_token = auth_token
        self._base_url = base_url
        self._voice = default_voice
        self._http: HttpxTwilioClient | None = None
        self._client: Any = None

    def _rest(self) -> Any:
        if self._client is None:
            if not (self._account_sid and self._auth_token):
                raise CallControlError(
                    "Twilio call control needs twilio.accountSid and twilio.authToken "
                    "(or TWILIO_ACCOUNT_SID / TWILIO_AUTH_TOKEN)"
                )
            from twilio.rest import Client

            self._http = HttpxTwilioClient(base_url=self._base_url)
            self._client = Client(self._account_sid, self._auth_token, http_client=self._http)
        return self._client

    async def _call(self, operation: Any, *, ignore_gone: bool = False) -> Any:
        from twilio.base.exceptions import TwilioRestException

        try:
            return await operation
        except TwilioRestException as exc:
            if ignore_gone and (exc.code == ALREADY_ENDED or exc.status == 404):
                return None
            raise CallControlError(f"Twilio API error: {exc.msg}", status=exc.status, code=exc.code) from None

    async def place_call(self, call: CallRef, callbacks: DialCallbacks) -> PlacedCall:
        extra: dict[str, Any] = {"machine_detection": "Enable"} if callbacks.machine_detection else {}
        if callbacks.time_limit_seconds:
            extra["time_limit"] = max(1, round(callbacks.time_limit_seconds))
        if callbacks.stream is not None:
            extra["twiml"] = render_twiml([callbacks.stream], default_voice=self._voice)
        else:
            extra.update(url=callbacks.answer_url, method="POST")
        placed = await self._call(
            self._rest().calls.create_async(
                to=call.to_number,
                from_=call.from_number,
                status_callback=callbacks.status_url,
                status_callback_method="POST",
                status_callback_event=_STATUS_EVENTS,
                timeout=max(1, min(600, round(callbacks.ring_timeout_seconds))),  # Twilio allows 1-600 s
                **extra,
            )
        )
        return PlacedCall(provider_call_id=placed.sid, status=placed.status)

    async def redirect(self, call: CallRef, url: str) -> None:
        await self._call(self._rest().calls(_sid(call)).update_async(url=url, method="POST"))

    async def hangup(self, call: CallRef) -> None:
        sid = _sid(call)

        async def attempt() -> None:
            await self._call(self._rest().calls(sid).update_async(status="completed"), ignore_gone=True)

        # Completing a completed call changes nothing, so a lost answer is safe to repeat.
        await retry_transient(attempt, what="Twilio hang-up", call_id=call.call_id, policy=self._retry)

    async def aclose(self) -> None:
        if self._http is not None:
            await self._http.aclose()


def _sid(call: CallRef) -> str:
    if not call.provider_call_id:
        raise CallControlError(f"call {call.call_id} has no Twilio CallSid yet")
    return call.provider_call_id
