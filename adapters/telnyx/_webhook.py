"""Telnyx Call Control webhooks: verify the Ed25519 signature, parse the JSON envelope.

Every event's ``data.id`` is its dedupe key: Telnyx retries an event with the same id and a
new ``meta.attempt``. Our call identity comes back in ``payload.client_state``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any, Final

import msgspec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from telephony.providers import (
    AdapterConfigError,
    AnsweredBy,
    CallAnswered,
    CallEnded,
    CallEvent,
    CallIdentity,
    CallInitiated,
    CallStarted,
    EndReason,
    PlaybackFinished,
    RecordingReady,
    UserInput,
    WebhookRejected,
    WebhookRequest,
    warn_verification_skipped,
)

from ._signature import SIGNATURE_HEADER, TIMESTAMP_HEADER, check, load_public_key

_log = logging.getLogger("telephony.telnyx")

#: The client-state kind our dial request carries: ``call.answered`` with it is our outbound call.
DIAL_KIND: Final = "answer"

HANGUP_CAUSES: Final[dict[str, EndReason]] = {
    "normal_clearing": "completed",
    "originator_cancel": "completed",
    "unspecified": "completed",
    "user_busy": "busy",
    "no_answer": "no-answer",
    "timeout": "no-answer",  # the dial's ring timeout ran out
    "call_rejected": "failed",
    "not_found": "failed",
    "time_limit": "timeout",
}
"""``call.hangup`` ``hangup_cause`` to our end reasons; an unknown cause is ``completed``."""

_MACHINE: Final[dict[str, AnsweredBy]] = {
    "human": "human",
    "human_residence": "human",
    "human_business": "human",
    "machine": "machine",
    "fax_detected": "fax",
}
_PLAYED: Final = frozenset({"completed"})


class _Transcription(msgspec.Struct, kw_only=True):
    transcript: str = ""
    is_final: bool = False
    confidence: float | None = None
    transcription_track: str | None = None


class _Urls(msgspec.Struct, kw_only=True):
    mp3: str | None = None
    wav: str | None = None


class _Payload(msgspec.Struct, kw_only=True):
    call_control_id: str | None = None
    client_state: str | None = None
    direction: str | None = None
    from_: str | None = msgspec.field(default=None, name="from")
    to: str | None = None
    hangup_cause: str | None = None
    status: str | None = None
    digit: str | None = None
    digits: str | None = None
    result: Any = None
    transcription_data: _Transcription | None = None
    recording_urls: _Urls | None = None
    public_recording_urls: _Urls | None = None
    recording_id: str | None = None
    recording_started_at: str | None = None
    recording_ended_at: str | None = None
    failure_reason: str | None = None


class _Data(msgspec.Struct, kw_only=True):
    event_type: str
    id: str
    payload: _Payload = msgspec.field(default_factory=_Payload)


class _Envelope(msgspec.Struct, kw_only=True):
    data: _Data


_ENVELOPE: Final = msgspec.json.Decoder(_Envelope)


class TelnyxWebhooks:
    """Verifies ``telnyx-signature-ed25519`` and parses Call Control events.

    Args:
        public_key: The account's webhook public key (raw base64, base64 DER or PEM).
        skip_verification: The loud development switch; without it a missing key is refused.
        clock: Seconds since the epoch (tests move it).

    Raises:
        AdapterConfigError: No usable public key and verification is not skipped: webhooks
            must never be accepted unchecked by accident.
    """

    def __init__(
        self,
        public_key: str | None,
        *,
        skip_verification: bool = False,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._key: Ed25519PublicKey | None = None
        if public_key:
            self._key = load_public_key(public_key)
        elif not skip_verification:
            raise AdapterConfigError(
                "telnyx.publicKey: required to verify webhooks (or set TELNYX_PUBLIC_KEY): "
                "the account's public key from the Telnyx portal",
                path="telnyx.publicKey",
            )
        self._skip = skip_verification
        self._clock = clock

    def verify(self, request: WebhookRequest) -> None:
        """Raise :class:`WebhookRejected` unless the request is signed by Telnyx and fresh."""
        if self._skip:
            warn_verification_skipped("telnyx")
            return
        assert self._key is not None  # the constructor refuses to run without one
        check(
            self._key,
            request.body,
            request.header(SIGNATURE_HEADER),
            request.header(TIMESTAMP_HEADER),
            self._clock(),
        )

    def parse(self, request: WebhookRequest) -> CallEvent | None:
        """One Call Control event; None for the event types the engine does not act on."""
        try:
            data = _ENVELOPE.decode(request.body).data
        except msgspec.DecodeError as exc:
            raise WebhookRejected(400, f"malformed Telnyx webhook: {exc}") from None
        payload = data.payload
        if not payload.call_control_id:
            _log.info("Telnyx %s without call_control_id acknowledged", data.event_type)
            return None
        identity = CallIdentity.from_client_state(payload.client_state) or request.identity()
        base: dict[str, Any] = {
            "provider_call_id": payload.call_control_id,
            "event_id": f"telnyx:{data.id}",
            "call_id": identity.call_id if identity else None,
            "turn": identity.turn if identity else None,
        }
        return _event(data.event_type, payload, base, identity)


def _event(
    kind: str, payload: _Payload, base: dict[str, Any], identity: CallIdentity | None
) -> CallEvent | None:
    """The normalized event for one Telnyx event type (see the module's table in the docs)."""
    match kind:
        case "call.initiated" | "call.answered":
            return _start_or_progress(kind, payload, base, identity)
        case "call.machine.detection.ended" | "call.machine.premium.detection.ended":
            return CallAnswered(**base, answered_by=_answered_by(payload.result))
        case "call.speak.ended" | "call.playback.ended" if payload.status in _PLAYED:
            return PlaybackFinished(**base)
        case "call.transcription":
            return _transcription(payload.transcription_data, base)
        case "call.dtmf.received" if payload.digit:
            return UserInput(**base, expects_reply=True, digits=payload.digit)
        case "call.gather.ended" if payload.status == "valid" and payload.digits:
            return UserInput(**base, expects_reply=True, digits=payload.digits)
        case "call.recording.saved":
            return _recording(payload, base)
        case "call.hangup":
            return CallEnded(**base, reason=HANGUP_CAUSES.get(payload.hangup_cause or "", "completed"))
        case "streaming.failed":
            # The socket never opened, so nothing else will tell us; the call stays up, and the
            # engine moves it to markup mode once its stream is overdue (streaming.startTimeoutMs).
            _log.warning("Telnyx media stream failed: %s", payload.failure_reason or "no reason given")
    # call.speak.started, call.playback.started, streaming.started/stopped, call.bridged, a
    # gather that ended without digits (silence is timed by the engine), ...: not for us.
    return None


def _start_or_progress(
    kind: str, payload: _Payload, base: dict[str, Any], identity: CallIdentity | None
) -> CallEvent:
    """``call.initiated`` starts an inbound call; ``call.answered`` starts the call we dialed.

    Otherwise they are progress. Our outbound call picking up is when the engine greets (inbound
    calls greet on answer).
    """
    inbound = kind == "call.initiated" and payload.direction == "incoming"
    dialed = kind == "call.answered" and identity is not None and identity.kind == DIAL_KIND
    if inbound or dialed:
        return CallStarted(
            **base,
            expects_reply=True,
            direction="inbound" if inbound else "outbound",
            from_number=payload.from_ or "",
            to_number=payload.to or "",
        )
    return CallInitiated(**base) if kind == "call.initiated" else CallAnswered(**base)


def _answered_by(result: object) -> AnsweredBy:
    """Standard and premium detection results; ``not_sure``, ``silence`` and others: unknown."""
    return _MACHINE.get(result, "unknown") if isinstance(result, str) else "unknown"


def _transcription(data: _Transcription | None, base: dict[str, Any]) -> CallEvent | None:
    """``transcription_data.transcript`` (never ``payload.transcription``) as the caller's words."""
    if data is None or not data.transcript.strip() or data.transcription_track == "outbound":
        return None  # nothing said, or our own voice on the outbound track
    return UserInput(
        **base,
        expects_reply=data.is_final,
        speech=data.transcript.strip(),
        confidence=data.confidence,
        final=data.is_final,
    )


def _recording(payload: _Payload, base: dict[str, Any]) -> CallEvent:
    urls = payload.recording_urls or payload.public_recording_urls or _Urls()
    url = urls.mp3 or urls.wav
    if not url:
        raise WebhookRejected(400, "call.recording.saved without recording_urls")
    return RecordingReady(**base, url=url, recording_id=payload.recording_id)
