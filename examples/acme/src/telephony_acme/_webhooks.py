"""Acme's webhooks: the ``Acme-Signature`` check and the JSON event envelope."""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Callable
from typing import Any, Final, Literal

import msgspec
from telephony.providers import (
    AdapterConfigError,
    AnsweredBy,
    CallAnswered,
    CallEnded,
    CallEvent,
    CallIdentity,
    CallRinging,
    CallStarted,
    EndReason,
    NoInput,
    PlaybackFinished,
    RecordingReady,
    UserInput,
    WebhookRejected,
    WebhookRequest,
    parse_decimal,
    require_header,
    signatures_match,
    warn_verification_skipped,
)

SIGNATURE_HEADER: Final = "acme-signature"
TOLERANCE_SECONDS: Final = 300


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """The ``v1`` part of ``Acme-Signature``: hex HMAC-SHA256 of ``"<timestamp>." + body``."""
    message = f"{timestamp}.".encode() + body
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


class _Call(msgspec.Struct, kw_only=True):
    id: str
    direction: Literal["inbound", "outbound"] = "inbound"
    from_: str = msgspec.field(default="", name="from")
    to: str = ""
    client_state: str | None = None


class _Data(msgspec.Struct, kw_only=True):
    status: str | None = None  # gather: "ok" or "timeout"
    speech: str | None = None
    confidence: float | None = None
    digits: str | None = None
    answered_by: str | None = None  # "human", "machine", "fax" with machine detection
    recording_url: str | None = None
    duration_secs: float | None = None
    cause: str | None = None  # hang-up cause


class _Envelope(msgspec.Struct, kw_only=True):
    id: str
    type: str
    call: _Call
    data: _Data = msgspec.field(default_factory=_Data)


_ENVELOPE: Final = msgspec.json.Decoder(_Envelope)
_CAUSES: Final[dict[str, EndReason]] = {
    "normal_clearing": "completed",
    "caller_hangup": "hangup-user",
    "busy": "busy",
    "no_answer": "no-answer",
    "rejected": "failed",
    "time_limit": "timeout",
}
_ANSWERED_BY: Final[dict[str, AnsweredBy]] = {"human": "human", "machine": "machine", "fax": "fax"}


def _answered_by(value: str | None) -> AnsweredBy | None:
    return _ANSWERED_BY.get(value, "unknown") if value else None


class AcmeWebhooks:
    """Verifies ``Acme-Signature`` and parses Acme's JSON event envelope.

    Args:
        secret: The webhook signing secret.
        skip_verification: The development switch: accept every webhook, loudly.
        clock: The current Unix time, for the replay window.

    Raises:
        AdapterConfigError: when there is no secret and verification is not switched off.
    """

    def __init__(
        self,
        secret: str | None,
        *,
        skip_verification: bool = False,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if not secret and not skip_verification:
            raise AdapterConfigError("`acme.webhookSecret` (or ACME_WEBHOOK_SECRET) is required")
        self._secret = secret or ""
        self._skip = skip_verification
        self._clock = clock

    def verify(self, request: WebhookRequest) -> None:
        """Return when the signature is good; raise :class:`WebhookRejected` (401, 403) otherwise."""
        if self._skip:
            warn_verification_skipped("acme")
            return
        header = require_header(request.header(SIGNATURE_HEADER), "Acme-Signature")  # 401
        fields: dict[str, str] = {}
        for part in header.split(","):
            key, _, value = part.strip().partition("=")
            fields[key] = value
        timestamp = parse_decimal(fields.get("t"), max_digits=12)
        if timestamp is None or "v1" not in fields:
            raise WebhookRejected(403, "malformed Acme-Signature")
        if abs(self._clock() - timestamp) > TOLERANCE_SECONDS:
            raise WebhookRejected(403, "stale Acme-Signature")  # a replay of an old request
        if not signatures_match(sign(self._secret, timestamp, request.body), fields["v1"]):
            raise WebhookRejected(403, "invalid Acme-Signature")

    def parse(self, request: WebhookRequest) -> CallEvent | None:
        """One normalized event, or None for an event type the engine does not act on."""
        try:
            hook = _ENVELOPE.decode(request.body)
        except msgspec.DecodeError as exc:  # also raised for a missing or mistyped field
            raise WebhookRejected(400, f"malformed Acme webhook: {exc}") from None
        identity = CallIdentity.from_client_state(hook.call.client_state)
        base: dict[str, Any] = {
            "provider_call_id": hook.call.id,
            "event_id": f"acme:{hook.id}",  # Acme retries an event with the same id
            "call_id": identity.call_id if identity else None,
            "turn": identity.turn if identity else None,
        }
        data = hook.data
        match hook.type:
            case "call.incoming":
                return CallStarted(
                    **base,
                    expects_reply=True,
                    direction="inbound",
                    from_number=hook.call.from_,
                    to_number=hook.call.to,
                )
            case "call.answered" if hook.call.direction == "outbound":
                return CallStarted(
                    **base,
                    expects_reply=True,
                    direction="outbound",
                    from_number=hook.call.from_,
                    to_number=hook.call.to,
                    answered_by=_answered_by(data.answered_by),
                )
            case "call.answered":
                return CallAnswered(**base)
            case "call.ringing":
                return CallRinging(**base)
            case "call.gather.ended" if data.status == "ok" and (data.speech or data.digits):
                return UserInput(
                    **base,
                    expects_reply=True,
                    speech=data.speech,
                    confidence=data.confidence,
                    digits=data.digits,
                )
            case "call.gather.ended":
                return NoInput(**base, expects_reply=True)
            case "call.speak.ended" | "call.playback.ended":
                return PlaybackFinished(**base, expects_reply=True)
            case "call.recording.saved":
                if not data.recording_url:
                    raise WebhookRejected(400, "call.recording.saved without recording_url")
                return RecordingReady(**base, url=data.recording_url, duration_seconds=data.duration_secs)
            case "call.hangup":
                reason = _CAUSES.get(data.cause or "", "completed")
                return CallEnded(**base, reason=reason, duration_seconds=data.duration_secs)
        return None  # call.bridged, call.dtmf.received, ...: authentic, but not for us
