"""Verify and parse Twilio voice webhooks."""

from __future__ import annotations

from typing import Any, Final

from twilio.request_validator import RequestValidator

from telephony.providers import (
    AdapterConfigError,
    AnsweredBy,
    CallAnswered,
    CallEnded,
    CallEvent,
    CallIdentity,
    CallInitiated,
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

_TERMINAL: Final[dict[str, EndReason]] = {
    "completed": "completed",
    "busy": "busy",
    "no-answer": "no-answer",
    "failed": "failed",
    "canceled": "hangup-bot",
}


class _Params(dict[str, list[str]]):
    """A multi-valued form the SDK validator understands (it calls ``getlist``)."""

    def getlist(self, name: str) -> list[str]:
        return self[name]


def _answered_by(value: str | None) -> AnsweredBy | None:
    if not value:
        return None
    if value == "human":
        return "human"
    if value.startswith("machine"):
        return "machine"
    return "fax" if value == "fax" else "unknown"


def _float(value: str | None) -> float | None:
    try:
        return float(value) if value else None
    except ValueError:
        return None


class TwilioWebhooks:
    """``X-Twilio-Signature`` verification and parsing of every voice webhook.

    Our callback URLs carry ``kind`` (answer, gather, status, record, amd) and ``callId`` in
    the query string; Twilio signs the full URL, so these cannot be forged either.
    """

    def __init__(self, auth_token: str | None, *, skip_verification: bool = False) -> None:
        if not auth_token and not skip_verification:
            raise AdapterConfigError(
                "twilio.authToken (or TWILIO_AUTH_TOKEN) is required to verify webhooks; "
                "set skipSignatureVerification only for local development"
            )
        self._validator = RequestValidator(auth_token or "")
        self._skip = skip_verification

    def verify(self, request: WebhookRequest) -> None:
        if self._skip:
            warn_verification_skipped("twilio")
            return
        signature = require_header(request.header("x-twilio-signature"), "X-Twilio-Signature")
        content_type = request.header("content-type") or ""
        params: str | _Params
        if "bodySHA256=" in request.url and content_type.startswith("application/json"):
            params = request.body.decode("utf-8", "replace")
        else:
            params = _Params(request.form()) if request.method == "POST" else _Params()
        if not self._validator.validate(request.url, params, signature):
            raise WebhookRejected(403, "invalid X-Twilio-Signature")

    def parse(self, request: WebhookRequest) -> CallEvent:
        form = request.form_single()
        query = request.query
        sid = form.get("CallSid")
        if not sid:
            raise WebhookRejected(400, "not a Twilio voice webhook: CallSid missing")
        identity = CallIdentity.from_query(query)
        kind = query.get("kind") or _infer_kind(form)
        base: dict[str, Any] = {
            "provider_call_id": sid,
            "event_id": request.form_fingerprint(),
            "call_id": identity.call_id if identity else None,
            "turn": identity.turn if identity else None,
        }
        status = form.get("CallStatus", "")
        if kind == "pending" and status not in _TERMINAL:
            return InstructionsRequested(**base, expects_reply=True)
        if kind == "gather":
            return _gathered(form, base)
        if kind == "partial":
            return UserInput(**base, speech=form.get("UnstableSpeechResult", ""), final=False)
        if kind == "record":
            return _recording(form, base, expects_reply=query.get("reply") == "1")
        if kind == "amd":
            return CallAnswered(**base, answered_by=_answered_by(form.get("AnsweredBy")))
        if status in _TERMINAL:
            return CallEnded(
                **base,
                expects_reply=kind == "answer",
                reason=_TERMINAL[status],
                duration_seconds=_float(form.get("CallDuration")),
            )
        if kind == "status":
            return _progress(status, form, base)
        direction = form.get("Direction", "inbound")
        return CallStarted(
            **base,
            expects_reply=True,
            direction="inbound" if direction == "inbound" else "outbound",
            from_number=form.get("From", ""),
            to_number=form.get("To", ""),
            answered_by=_answered_by(form.get("AnsweredBy")),
        )


def _gathered(form: dict[str, str], base: dict[str, Any]) -> CallEvent:
    """A gather's result: what the caller said or pressed, or nothing heard."""
    speech, digits = form.get("SpeechResult") or None, form.get("Digits") or None
    if speech is None and digits is None:
        return NoInput(**base, expects_reply=True)
    return UserInput(
        **base,
        expects_reply=True,
        speech=speech,
        confidence=_float(form.get("Confidence")),
        digits=digits,
    )


def _recording(form: dict[str, str], base: dict[str, Any], *, expects_reply: bool) -> CallEvent:
    """A finished recording; the callback must say where it is."""
    url = form.get("RecordingUrl")
    if not url:
        raise WebhookRejected(400, "recording callback without RecordingUrl")
    return RecordingReady(
        **base,
        expects_reply=expects_reply,
        url=url,
        duration_seconds=_float(form.get("RecordingDuration")),
        recording_id=form.get("RecordingSid"),
    )


def _progress(status: str, form: dict[str, str], base: dict[str, Any]) -> CallEvent:
    """A call-progress status callback that does not end the call."""
    if status == "ringing":
        return CallRinging(**base)
    if status == "in-progress":
        return CallAnswered(**base, answered_by=_answered_by(form.get("AnsweredBy")))
    if status in ("queued", "initiated"):
        return CallInitiated(**base)
    raise WebhookRejected(400, f"unknown CallStatus {status!r}")


def _infer_kind(form: dict[str, str]) -> str:
    """Classify a webhook that arrived on a URL without our ``kind`` marker (console-configured)."""
    if form.get("CallbackSource") == "call-progress-events":
        return "status"
    if "SpeechResult" in form or "Digits" in form:
        return "gather"
    if "RecordingUrl" in form:
        return "record"
    return "answer"
