"""The control API: outbound calls, speak, end, limits and the bearer token."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs

import httpx
import pytest
import respx
from conftest import TWILIO_CALLS as CALLS
from twilio_helpers import (
    ACCOUNT_SID,
    CALL_SID,
    OUR_NUMBER,
    WEBHOOK_URL,
    post_signed,
    twilio_app,
    twilio_config,
    twiml,
)

from telephony.config import ConfigError
from telephony.runtime import Runtime

CALLEE = "+14155550100"
JSON = {"content-type": "application/json"}


def _answer(call_id: str, status: str = "in-progress", **extra: str) -> tuple[str, dict[str, str]]:
    url = f"{WEBHOOK_URL}?callId={call_id}&kind=answer"
    return url, {
        "CallSid": CALL_SID,
        "AccountSid": ACCOUNT_SID,
        "CallStatus": status,
        "Direction": "outbound-api",
        "From": OUR_NUMBER,
        "To": CALLEE,
        **extra,
    }


def test_notify_call_says_message_then_hangs_up(twilio_api: Any) -> None:
    with twilio_app(twilio_config()) as client:
        placed = client.post(
            "/api/calls", json={"to": CALLEE, "message": "Your order shipped.", "mode": "notify"}
        )
        assert placed.status_code == 201, placed.text
        call_id = placed.json()["call_id"]
        form = parse_qs(twilio_api.calls[0].request.content.decode())
        assert form["Url"] == [f"{WEBHOOK_URL}?callId={call_id}&kind=answer"]
        assert form["StatusCallback"] == [f"{WEBHOOK_URL}?callId={call_id}&kind=status"]
        assert form["Timeout"] == ["30"], "ringTimeoutMs defaults to 30 s"
        root = twiml(post_signed(client, *_answer(call_id)).text)
        record = client.get(f"/api/calls/{call_id}").json()
    assert [child.tag for child in root] == ["Say", "Hangup"]
    assert root[0].text == "Your order shipped."
    assert record["provider_call_id"] == CALL_SID and record["state"] == "speaking"


def test_conversation_call_greets_with_its_message_and_listens(twilio_api: Any) -> None:
    with twilio_app(twilio_config()) as client:
        call_id = client.post(
            "/api/calls", json={"to": CALLEE, "message": "Hi, it's the clinic.", "mode": "conversation"}
        ).json()["call_id"]
        root = twiml(post_signed(client, *_answer(call_id)).text)
    say = root.find("Gather/Say")
    assert say is not None and say.text == "Hi, it's the clinic."


def test_voicemail_gets_the_message_and_a_hangup(twilio_api: Any) -> None:
    with twilio_app(twilio_config()) as client:
        call_id = client.post(
            "/api/calls", json={"to": CALLEE, "message": "Please call us back.", "mode": "conversation"}
        ).json()["call_id"]
        url, params = _answer(call_id, AnsweredBy="machine_end_beep")
        root = twiml(post_signed(client, url, params).text)
        state = client.get(f"/api/calls/{call_id}").json()["state"]
    assert [child.tag for child in root] == ["Say", "Hangup"] and state == "voicemail"


def test_lines_spoken_before_the_carrier_fetched_the_last_are_all_heard(twilio_api: Any) -> None:
    with twilio_app(twilio_config()) as client:
        call_id = client.post(
            "/api/calls", json={"to": CALLEE, "message": "Hello", "mode": "conversation"}
        ).json()["call_id"]
        post_signed(client, *_answer(call_id))
        for text in ("Your table is ready.", "It is by the window."):
            assert client.post(f"/api/calls/{call_id}/speak", json={"text": text}).status_code == 200
        # Twilio follows the newest redirect only: it must carry the line it never fetched.
        (latest,) = parse_qs(twilio_api.calls[-1].request.content.decode())["Url"]
        fetched = twiml(post_signed(client, latest, {"CallSid": CALL_SID, "CallStatus": "in-progress"}).text)
        transcript = client.get(f"/api/calls/{call_id}").json()["transcript"]
    assert [say.text for say in fetched.iter("Say")] == ["Your table is ready.", "It is by the window."]
    gather = fetched.find("Gather")
    assert gather is not None and [say.text for say in gather.iter("Say")] == ["It is by the window."]
    assert [turn["text"] for turn in transcript][-2:] == ["Your table is ready.", "It is by the window."]


def test_speak_updates_the_live_call_and_end_is_idempotent(twilio_api: Any) -> None:
    with twilio_app(twilio_config()) as client:
        call_id = client.post(
            "/api/calls", json={"to": CALLEE, "message": "Hello", "mode": "conversation"}
        ).json()["call_id"]
        post_signed(client, *_answer(call_id))
        spoke = client.post(f"/api/calls/{call_id}/speak", json={"text": "One more thing."})
        assert spoke.status_code == 200
        # The live call is redirected to fetch the new line; until it does, it waits in the store.
        redirect = parse_qs(twilio_api.calls[-1].request.content.decode())
        (pending_url,) = redirect["Url"]
        assert pending_url == f"{WEBHOOK_URL}?callId={call_id}&kind=pending&turn=1"
        fetched = post_signed(client, pending_url, {"CallSid": CALL_SID, "CallStatus": "in-progress"})
        gather = twiml(fetched.text).find("Gather")
        assert gather is not None and [say.text for say in gather.iter("Say")] == ["One more thing."]
        assert "turn=2" in gather.get("action", "")
        again = post_signed(client, pending_url, {"CallSid": CALL_SID, "CallStatus": "in-progress", "X": "1"})
        assert twiml(again.text).find("Gather") is not None  # nothing pending: keep listening, never hang up
        # A second line is fetched from a URL of its own: the same fetch body is not a retry of the first.
        client.post(f"/api/calls/{call_id}/speak", json={"text": "And another."})
        (second_url,) = parse_qs(twilio_api.calls[-1].request.content.decode())["Url"]
        fetched = post_signed(client, second_url, {"CallSid": CALL_SID, "CallStatus": "in-progress"})
        assert [say.text for say in twiml(fetched.text).iter("Say")] == ["And another."]
        first = client.post(f"/api/calls/{call_id}/end")
        second = client.post(f"/api/calls/{call_id}/end")
        hangups = [c for c in twilio_api.calls if b"Status=completed" in c.request.content]
    assert first.json()["state"] == second.json()["state"] == "hangup-bot"
    assert len(hangups) == 1


def test_outbound_limit_and_validation(twilio_api: Any) -> None:
    with twilio_app(twilio_config(maxConcurrentCalls=1)) as client:
        assert (
            client.post("/api/calls", json={"to": CALLEE, "message": "a", "mode": "notify"}).status_code
            == 201
        )
        busy = client.post("/api/calls", json={"to": CALLEE, "message": "b", "mode": "notify"})
        assert busy.status_code == 429 and "maxConcurrentCalls" in busy.json()["error"]
        assert client.post("/api/calls", json={"to": CALLEE, "mode": "notify"}).status_code in (400, 429)
        assert client.post("/api/calls", content=b"{not json", headers=JSON).status_code == 400
        assert client.post("/api/calls", json={"to": CALLEE, "bogus": 1}).status_code == 400
        bad_number = client.post("/api/calls", json={"to": "not-a-number", "message": "x", "mode": "notify"})
        assert bad_number.status_code == 400 and "E.164" in bad_number.json()["error"]
        for almost in (CALLEE + "\n", CALLEE + " ", "\n" + CALLEE):  # checked on the whole string
            refused = client.post("/api/calls", json={"to": almost, "message": "x", "mode": "notify"})
            assert refused.status_code == 400 and "E.164" in refused.json()["error"], repr(almost)
        assert client.get("/api/calls/nope").status_code == 404


def test_carrier_failure_marks_the_call_failed() -> None:
    with respx.mock(assert_all_mocked=True) as mock:
        mock.post(f"{CALLS}.json").mock(
            return_value=httpx.Response(
                400, json={"code": 21211, "message": "Invalid 'To' Phone Number", "status": 400}
            )
        )
        with twilio_app(twilio_config()) as client:
            response = client.post("/api/calls", json={"to": CALLEE, "message": "x", "mode": "notify"})
            calls = client.get("/api/calls").json()
    assert response.status_code == 400 and "Invalid 'To'" in response.json()["error"]
    assert calls[0]["state"] == "failed"


def test_control_api_needs_the_bearer_token_when_set() -> None:
    with twilio_app(twilio_config(controlToken="let-me-in")) as client:
        assert client.get("/api/calls").status_code == 401
        assert client.get("/api/calls", headers={"Authorization": "Bearer wrong"}).status_code == 401
        assert client.get("/api/calls", headers={"Authorization": "Bearer let-me-in"}).status_code == 200
        assert client.get("/health").status_code == 200


@pytest.mark.parametrize(
    "header",
    [
        "Via",
        "CF-Connecting-IP",
        "True-Client-IP",
        "Fastly-Client-IP",
        "X-Forwarded-Proto",
        "X-Cluster-Client-IP",
        "Tailscale-User-Login",
        "Tailscale-Funnel-Request",
        "Ngrok-Trace-Id",
        "Cf-Ray",
    ],
)
def test_without_token_any_forwarding_header_marks_a_request_proxied(header: str) -> None:
    with twilio_app(twilio_config()) as client:
        proxied = client.get("/api/calls", headers={header: "203.0.113.9"})
    assert proxied.status_code == 403 and "controlToken" in proxied.text


def test_control_api_without_token_refuses_proxied_requests() -> None:
    with twilio_app(twilio_config()) as client:
        assert client.get("/api/calls").status_code == 200
        tunneled = client.get("/api/calls", headers={"X-Forwarded-For": "203.0.113.9"})
        assert tunneled.status_code == 403 and "controlToken" in tunneled.text
        assert (
            client.post(
                "/api/calls", json={"to": CALLEE}, headers={"Forwarded": "for=203.0.113.9"}
            ).status_code
            == 403
        )


@pytest.mark.parametrize("bind", ["127.0.0.1", "0.0.0.0"])
def test_without_token_a_remote_client_cannot_place_calls_whatever_the_bind(
    bind: str, twilio_api: respx.MockRouter
) -> None:
    # The bind in the config says nothing about where the server really listens (a host app,
    # `uvicorn --host 0.0.0.0`): only the request's peer address counts.
    with twilio_app(twilio_config(serve={"bind": bind}), client_host="203.0.113.9") as client:
        placed = client.post("/api/calls", json={"to": CALLEE, "message": "x", "mode": "notify"})
        listed = client.get("/api/calls")
    assert placed.status_code == 403 and "controlToken" in placed.text
    assert listed.status_code == 403
    assert not twilio_api.calls, "a refused request must not reach call placing"


@pytest.mark.parametrize("peer", ["127.0.0.1", "::1", "::ffff:127.0.0.1"])
def test_without_token_this_machine_is_served(peer: str) -> None:
    with twilio_app(twilio_config(serve={"bind": "0.0.0.0"}), client_host=peer) as client:
        assert client.get("/api/calls").status_code == 200


def test_with_token_a_remote_client_is_served_only_with_the_token() -> None:
    with twilio_app(twilio_config(controlToken="let-me-in"), client_host="203.0.113.9") as client:
        assert client.get("/api/calls").status_code == 401
        assert client.get("/api/calls", headers={"Authorization": "Bearer let-me-in"}).status_code == 200


def test_unknown_carrier_refuses_to_start_with_a_clear_message() -> None:
    with pytest.raises(
        ConfigError, match=r"^provider: no carrier adapter named 'twillio' \(did you mean 'twilio'\?\)"
    ):
        Runtime.build(twilio_config(provider="twillio"))


def test_streaming_without_a_speech_engine_refuses_to_start() -> None:
    with pytest.raises(ConfigError, match=r"^stt: no STT engine named 'no-such-engine'; installed: "):
        Runtime.build(twilio_config(streaming=True, stt="no-such-engine"))


def test_health_reports_mounted_routes() -> None:
    with twilio_app(twilio_config(streaming=True)) as client:
        assert client.get("/health").json() == {
            "status": "ok",
            "provider": "twilio",
            "webhook": "/voice/webhook",
            "stream": "/voice/stream",
        }


def test_max_duration_hangs_up_with_reason_timeout(twilio_api: Any) -> None:
    import time

    with twilio_app(twilio_config(maxDurationSeconds=1)) as client:
        call_id = client.post(
            "/api/calls", json={"to": CALLEE, "message": "Hi", "mode": "conversation"}
        ).json()["call_id"]
        post_signed(client, *_answer(call_id))
        deadline = time.monotonic() + 5
        while (
            client.get(f"/api/calls/{call_id}").json()["state"] != "timeout" and time.monotonic() < deadline
        ):
            time.sleep(0.1)
        record = client.get(f"/api/calls/{call_id}").json()
    assert record["state"] == "timeout" and record["end_reason"] == "timeout"
    assert any(b"Status=completed" in c.request.content for c in twilio_api.calls)


def test_a_failed_speak_writes_nothing_and_oversized_requests_are_refused(twilio_api: Any) -> None:
    with twilio_app(twilio_config()) as client:
        call_id = client.post(
            "/api/calls", json={"to": CALLEE, "message": "Hello", "mode": "conversation"}
        ).json()["call_id"]
        post_signed(client, *_answer(call_id))
        before = client.get(f"/api/calls/{call_id}").json()
        twilio_api.post(f"{CALLS}/{CALL_SID}.json").mock(
            return_value=httpx.Response(400, json={"code": 21220, "message": "Call is not in-progress"})
        )
        failed = client.post(f"/api/calls/{call_id}/speak", json={"text": "One more thing."})
        after = client.get(f"/api/calls/{call_id}").json()
        too_long = client.post(f"/api/calls/{call_id}/speak", json={"text": "a" * 4001})
        empty = client.post(f"/api/calls/{call_id}/speak", json={"text": ""})
        huge = client.post(
            f"/api/calls/{call_id}/speak", content=b'{"text": "' + b"a" * 20000 + b'"}', headers=JSON
        )
        long_message = client.post("/api/calls", json={"to": CALLEE, "message": "a" * 4001})
    assert failed.status_code == 400 and "not in-progress" in failed.json()["error"]
    assert after["transcript"] == before["transcript"] and after["gather_turn"] == before["gather_turn"]
    assert after["state"] == before["state"]
    assert too_long.status_code == 422 and "4000" in too_long.json()["error"]
    assert empty.status_code == 400
    assert huge.status_code == 413
    assert long_message.status_code == 422
