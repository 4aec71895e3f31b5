"""Webhook parse, for information: ``TwilioWebhooks.parse`` on a speech gather callback.

Webhooks arrive a few times per turn, not 50 times a second, so this is not a hot path. pipecat
has no markup (``<Gather>``) mode to compare with, so the baseline is a floor, not a peer: a
bare ``urllib.parse.parse_qs`` of the same fields. The figure shows what the typed event and the
dedup fingerprint cost over that floor. Signature verification is excluded on both sides.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

from telephony.adapters.twilio import TwilioWebhooks
from telephony.providers import UserInput, WebhookRequest

from ._harness import Result, compare
from ._signals import ACCOUNT_SID, CALL_SID

REQUESTS = 2000

# The parameters Twilio posts to a <Gather input="speech"> action URL, in the order it sends them.
GATHER_FORM = {
    "AccountSid": ACCOUNT_SID,
    "ApiVersion": "2010-04-01",
    "CallSid": CALL_SID,
    "CallStatus": "in-progress",
    "Called": "+14155550100",
    "CalledCity": "SAN FRANCISCO",
    "CalledCountry": "US",
    "CalledState": "CA",
    "CalledZip": "94105",
    "Caller": "+12125550123",
    "CallerCity": "NEW YORK",
    "CallerCountry": "US",
    "CallerState": "NY",
    "CallerZip": "10001",
    "Confidence": "0.91704345",
    "Direction": "inbound",
    "From": "+12125550123",
    "FromCity": "NEW YORK",
    "FromCountry": "US",
    "FromState": "NY",
    "FromZip": "10001",
    "Language": "en-US",
    "SpeechResult": "I'd like to move my appointment to Thursday afternoon, please.",
    "To": "+14155550100",
    "ToCity": "SAN FRANCISCO",
    "ToCountry": "US",
    "ToState": "CA",
    "ToZip": "94105",
}


def _baseline_parse(url: str, body: bytes) -> dict[str, Any]:
    form = parse_qs(body.decode())
    query = parse_qs(urlsplit(url).query)
    confidence = form.get("Confidence", [""])[0]
    return {
        "kind": query.get("kind", [""])[0],
        "call_id": query.get("callId", [""])[0],
        "provider_call_id": form["CallSid"][0],
        "speech": form.get("SpeechResult", [None])[0],
        "digits": form.get("Digits", [None])[0],
        "confidence": float(confidence) if confidence else None,
    }


def run() -> list[Result]:
    """One gather callback parsed ``REQUESTS`` times."""
    url = "https://voice.example.com/webhooks/twilio?kind=gather&callId=c_01HZX3V9K7Q2&turn=3"
    body = urlencode(GATHER_FORM).encode()
    request = WebhookRequest(
        method="POST",
        url=url,
        headers={
            "content-type": "application/x-www-form-urlencoded; charset=UTF-8",
            "x-twilio-signature": "0" * 28,  # placeholder; parse never looks at it
            "user-agent": "TwilioProxy/1.1",
        },
        body=body,
    )
    webhooks = TwilioWebhooks("bench-placeholder-token")  # only used by verify(), which we don't time
    parse = webhooks.parse

    event = parse(request)
    expected = _baseline_parse(url, body)
    assert isinstance(event, UserInput), event
    assert (event.speech, event.confidence) == (expected["speech"], expected["confidence"])

    def ours() -> None:
        for _ in range(REQUESTS):
            parse(request)

    def baseline() -> None:
        for _ in range(REQUESTS):
            _baseline_parse(url, body)

    return [compare("webhook: parse gather callback, vs bare parse_qs (floor)", ours, baseline, ops=REQUESTS)]
