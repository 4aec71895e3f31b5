"""Verify and parse Plivo voice webhooks (form parameters; our identity in the URL's query)."""

from __future__ import annotations

from typing import Any, Final

from telephony.providers import (
    AdapterConfigError,
    AnsweredBy,
    CallAnswered,
    CallEnded,
    CallEvent,
    CallRinging,
    CallStarted,
    EndReason,
    InstructionsRequested,
    NoInput,
    RecordingReady,
    UserInput,
    WebhookRejected,
    WebhookRequest,
    require_header,
    warn_verification_skipped,
)

from ._signature import MAIN_ACCOUNT_SIGNATURE, NONCE, SIGNATURE, V3Signer, load_signer

#: ``CallStatus`` values that end a call, and what they mean to us.
_TERMINAL_STATUS: Final[dict[str, EndReason]] = {
    "completed": "completed",
    "busy": "busy",
    "no-answer": "no-answer",
    "timeout": "no-answer",  # the ring timeout ran out
    "failed": "failed",
    "cancel": "hangup-bot",  # we cancelled the call before it was answered
}

#: ``HangupCause`` names that say more than ``CallStatus=completed`` does.
_HANGUP_CAUSES: Final[dict[str, EndReason]] = {
    "USER_BUSY": "busy",
    "CALL_REJECTED": "busy",
    "NO_ANSWER": "no-answer",
    "NO_USER_RESPONSE": "no-answer",
    "UNALLOCATED_NUMBER": "failed",
    "INVALID_NUMBER_FORMAT": "failed",
    "NETWORK_OUT_OF_ORDER": "failed",
    "NORMAL_TEMPORARY_FAILURE": "failed",
    "SERVICE_UNAVAILABLE": "failed",
    "RECOVERY_ON_TIMER_EXPIRE": "timeout",
    "ALLOTTED_TIMEOUT": "timeout",
}

#: ``Event`` values of callbacks we do not act on (stream status, transfers, dial legs).
_IGNORED_EVENTS: Final = frozenset(
    {"StartStream", "StopStream", "DroppedStream", "DegradedStream", "started", "stopped", "failed"}
)


def _float(value: str | None) -> float | None:
    try:
        return float(value) if value else None
    except ValueError:
        return None


def _nonnegative(value: float | None) -> float | None:
    return value if value is not None and value >= 0 else None


def end_reason(status: str, cause: str | None) -> EndReason:
    """Our end reason for a finished call, from its ``CallStatus`` and ``HangupCause``."""
    by_cause = _HANGUP_CAUSES.get((cause or "").upper())
    if by_cause is not None and status in ("completed", "failed", ""):
        return by_cause
    return _TERMINAL_STATUS.get(status, "completed")


def _answered_by(form: dict[str, str]) -> AnsweredBy | None:
    machine = form.get("Machine", "").lower()
    if machine == "true":
        return "machine"
    if machine == "false":
        return "human"
    return None


class PlivoWebhooks:
    """V3 signature verification and parsing of every Plivo voice callback.

    Our callback URLs carry ``kind`` (answer, status, gather, pending, record) and ``callId``
    in the query string, which Plivo signs with the rest, so these cannot be forged either.
    URLs set in the Plivo console carry none; the ``Event`` parameter then says what came.

    Args:
        auth_token: The token of the account that owns the numbers; it signs the
            ``X-Plivo-Signature-V3`` header (a main account's also signs ``-Ma-V3``).
        skip_verification: The loud development switch.
        signer: The SDK's signing functions; imported here when not given.
    """

    def __init__(
        self, auth_token: str | None, *, skip_verification: bool = False, signer: V3Signer | None = None
    ) -> None:
        if not auth_token and not skip_verification:
            raise AdapterConfigError(
                "plivo.authToken (or PLIVO_AUTH_TOKEN) is required to verify webhooks; "
                "set skipSignatureVerification only for local development",
                path="plivo.authToken",
            )
        self._token = auth_token or ""
        self._skip = skip_verification
        self._signer = signer or load_signer()

    def verify(self, request: WebhookRequest) -> None:
        """Check ``X-Plivo-Signature-V3`` (or ``-Ma-V3``) over the URL, parameters and nonce."""
        if self._skip:
            warn_verification_skipped("plivo")
            return
        signature = request.header(SIGNATURE) or request.header(MAIN_ACCOUNT_SIGNATURE)
        signature = require_header(signature, "X-Plivo-Signature-V3")
        nonce = require_header(request.header(NONCE), "X-Plivo-Signature-V3-Nonce")
        # A GET's parameters are in the URL already, and the SDK reads the query from the URL.
        params = request.form() if request.method.upper() == "POST" else {}
        candidates = [signature]
        main = request.header(MAIN_ACCOUNT_SIGNATURE)
        if main and main != signature:
            candidates.append(main)
        if not any(
            self._signer.matches(self._token, request.method, request.url, params, nonce, header)
            for header in candidates
        ):
            raise WebhookRejected(403, "invalid X-Plivo-Signature-V3")

    def parse(self, request: WebhookRequest) -> CallEvent | None:
        """One event for a callback, or None for one we do not act on."""
        form = request.form_single()
        uuid = form.get("CallUUID")
        if not uuid:
            raise WebhookRejected(400, "not a Plivo voice webhook: CallUUID missing")
        identity = request.identity()
        query = request.query
        event = form.get("Event", "")
        kind = (identity.kind if identity else None) or _infer_kind(form)
        base: dict[str, Any] = {
            "provider_call_id": uuid,
            "event_id": request.form_fingerprint(),
            "call_id": identity.call_id if identity else None,
            "turn": identity.turn if identity else None,
        }
        status = form.get("CallStatus", "")
        if event in _IGNORED_EVENTS or "DialStatus" in form or "DialAction" in form:
            return None
        if kind == "record":
            # Before the end of the call: a recording that ends with the hang-up still counts
            # (the hangup URL reports the end itself).
            return _recording(base, form, expects_reply=query.get("reply") == "1")
        if event == "Hangup" or status in _TERMINAL_STATUS:
            return CallEnded(
                **base,
                reason=end_reason(status, form.get("HangupCause")),
                duration_seconds=_float(form.get("Duration")),
            )
        if kind == "pending":
            return InstructionsRequested(**base, expects_reply=True)
        if kind == "gather":
            return _gather_result(base, form)
        if event == "StartApp" or kind == "answer" or (kind is None and not event):
            # The answer URL: it must get instructions, whatever else the request carries.
            return CallStarted(
                **base,
                expects_reply=True,
                direction="outbound" if form.get("Direction") == "outbound" else "inbound",
                from_number=form.get("From", ""),
                to_number=form.get("To", ""),
                answered_by=_answered_by(form),
            )
        if event == "MachineDetection" or "Machine" in form:
            return CallAnswered(**base, answered_by=_answered_by(form))
        if event == "Ring":
            return CallRinging(**base)
        return None  # an event we do not act on (a status callback of another kind)


def _gather_result(base: dict[str, Any], form: dict[str, str]) -> UserInput | NoInput:
    """A ``GetInput`` result, or our explicit no-input ``Redirect`` (which carries neither)."""
    speech = form.get("Speech", "").strip() or None
    digits = form.get("Digits", "").strip() or None
    if form.get("InputType") == "speech":
        digits = None
    elif form.get("InputType") == "dtmf":
        speech = None
    if speech is None and digits is None:
        return NoInput(**base, expects_reply=True)
    return UserInput(
        **base,
        expects_reply=True,
        speech=speech,
        confidence=_float(form.get("SpeechConfidenceScore")) if speech else None,
        digits=digits,
    )


def _recording(base: dict[str, Any], form: dict[str, str], *, expects_reply: bool) -> RecordingReady:
    url = form.get("RecordUrl")
    if not url:
        raise WebhookRejected(400, "recording callback without RecordUrl")
    return RecordingReady(
        **base,
        expects_reply=expects_reply,
        url=url,
        # -1 until a session recording has ended (its callback brings the real length).
        duration_seconds=_nonnegative(_float(form.get("RecordingDuration"))),
        recording_id=form.get("RecordingID"),
    )


def _infer_kind(form: dict[str, str]) -> str | None:
    """Classify a callback that arrived on a URL without our ``kind`` (one set in the console)."""
    if "InputType" in form or "Speech" in form:
        return "gather"
    if "RecordUrl" in form:
        return "record"
    return None
