"""Webhooks that fail verification get 401/403 from the real app and change nothing."""

from __future__ import annotations

from urllib.parse import urlencode

import pytest
from twilio_helpers import WEBHOOK_URL, incoming_call, post_signed, sign, twilio_app, twilio_config

FORM = {"Content-Type": "application/x-www-form-urlencoded"}


def _assert_untouched(client) -> None:
    assert client.get("/api/calls").json() == []


def test_unsigned_webhook_is_401_and_creates_no_call() -> None:
    with twilio_app(twilio_config()) as client:
        response = client.post("/voice/webhook", content=urlencode(incoming_call()), headers=FORM)
        assert response.status_code == 401
        _assert_untouched(client)


def test_wrong_signature_is_403() -> None:
    with twilio_app(twilio_config()) as client:
        headers = FORM | {"X-Twilio-Signature": sign(WEBHOOK_URL, incoming_call(), token="not-the-token")}
        response = client.post("/voice/webhook", content=urlencode(incoming_call()), headers=headers)
        assert response.status_code == 403
        _assert_untouched(client)


def test_tampered_body_is_403() -> None:
    with twilio_app(twilio_config()) as client:
        headers = FORM | {"X-Twilio-Signature": sign(WEBHOOK_URL, incoming_call())}
        tampered = incoming_call() | {"From": "+19995550000"}
        response = client.post("/voice/webhook", content=urlencode(tampered), headers=headers)
        assert response.status_code == 403
        _assert_untouched(client)


def test_signature_is_checked_against_public_url_not_host_header() -> None:
    with twilio_app(twilio_config()) as client:
        # Signed for the Host the request claims, not for the configured publicUrl: refused.
        forged_url = "http://attacker.example/voice/webhook"
        headers = FORM | {"X-Twilio-Signature": sign(forged_url, incoming_call()), "Host": "attacker.example"}
        response = client.post("/voice/webhook", content=urlencode(incoming_call()), headers=headers)
        assert response.status_code == 403


def test_forwarded_host_is_trusted_only_when_configured() -> None:
    config = twilio_config(
        webhookSecurity={"trustForwardingHeaders": True, "allowedHosts": ["edge.example.org"]}
    )
    with twilio_app(config) as client:
        url = "https://edge.example.org/voice/webhook"
        response = post_signed(
            client,
            url,
            incoming_call(),
            headers={"X-Forwarded-Host": "edge.example.org", "X-Forwarded-Proto": "https"},
        )
        assert response.status_code == 200
        other = post_signed(
            client,
            "https://evil.example/voice/webhook",
            incoming_call(),
            headers={"X-Forwarded-Host": "evil.example"},
        )
        assert other.status_code == 403


def test_oversized_body_is_refused() -> None:
    with twilio_app(twilio_config()) as client:
        response = client.post("/voice/webhook", content=b"a=" + b"x" * 70_000, headers=FORM)
        assert response.status_code == 413
        _assert_untouched(client)


def test_skip_switch_accepts_unsigned_and_logs_loudly(caplog: pytest.LogCaptureFixture) -> None:
    with twilio_app(twilio_config(skipSignatureVerification=True)) as client:
        response = client.post("/voice/webhook", content=urlencode(incoming_call()), headers=FORM)
    assert response.status_code == 200
    assert any("WITHOUT signature verification" in r.getMessage() for r in caplog.records)


def test_secrets_never_reach_the_logs(caplog: pytest.LogCaptureFixture) -> None:
    from twilio_helpers import AUTH_TOKEN

    caplog.set_level("DEBUG")
    with twilio_app(twilio_config()) as client:
        post_signed(client, WEBHOOK_URL, incoming_call())
        client.post("/voice/webhook", content=urlencode(incoming_call()), headers=FORM)
    assert AUTH_TOKEN not in caplog.text


def test_a_reordered_body_with_a_still_valid_signature_does_not_run_the_turn_twice() -> None:
    from twilio_helpers import CALL_SID, twiml

    with twilio_app(twilio_config()) as client:
        greeting = twiml(post_signed(client, WEBHOOK_URL, incoming_call()).text).find("Gather")
        assert greeting is not None
        action = greeting.attrib["action"]
        params = incoming_call() | {"CallStatus": "in-progress", "SpeechResult": "What time is it?"}
        first = post_signed(client, action, params)
        # Twilio signs the URL and the parameters sorted by name, not the raw body: the same
        # parameters in another order carry the same valid signature.
        reordered = urlencode(list(reversed(list(params.items())))).encode()
        headers = {
            "X-Twilio-Signature": sign(action, params),
            "Content-Type": "application/x-www-form-urlencoded",
        }
        second = client.post(
            action.removeprefix("https://voice.example.com"), content=reordered, headers=headers
        )
        calls = client.get("/api/calls").json()
    assert first.status_code == second.status_code == 200 and second.text == first.text
    assert [turn["speaker"] for turn in calls[0]["transcript"]] == ["bot", "user", "bot"]
    assert calls[0]["provider_call_id"] == CALL_SID


def test_rejected_requests_are_logged_at_a_bounded_rate(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    from telephony.observability import RateLimitedLog
    from telephony.server import _errors as http_errors

    # A fresh minute's budget, whatever earlier tests were refused.
    monkeypatch.setattr(http_errors, "_REJECTIONS", RateLimitedLog(http_errors._log))
    with twilio_app(twilio_config()) as client, caplog.at_level("WARNING", logger="telephony.server"):
        for _ in range(40):
            refused = client.post(
                "/voice/webhook", data=incoming_call(), headers={"X-Twilio-Signature": "forged"}
            )
            assert refused.status_code == 403
    rejected = [record for record in caplog.records if "webhook rejected" in record.getMessage()]
    assert 1 <= len(rejected) <= 10
