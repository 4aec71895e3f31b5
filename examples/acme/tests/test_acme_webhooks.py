from __future__ import annotations

import time
from typing import Any

import msgspec
import pytest
from telephony.providers import (
    AdapterConfigError,
    CallAnswered,
    CallEnded,
    CallIdentity,
    CallRinging,
    CallStarted,
    NoInput,
    PlaybackFinished,
    RecordingReady,
    UserInput,
    WebhookRejected,
    WebhookRequest,
)

from telephony_acme import AcmeWebhooks, sign

from .acme_testing import SECRET, URL, hook, signed


def test_the_signature_is_hmac_sha256_of_timestamp_dot_body() -> None:
    # Acme's published example: secret whsec_test, t=1700000000, body {"id":"ev_1"}.
    expected = "0ef8441954c7c510c78f6c063ddfba5a6f746285701338504e3a77d1811f2fa6"
    assert sign("whsec_test", 1700000000, b'{"id":"ev_1"}') == expected


def test_a_good_signature_passes() -> None:
    AcmeWebhooks(SECRET).verify(signed(hook("call.incoming")))


def test_a_signature_inside_the_window_passes_on_a_clock_that_is_behind() -> None:
    AcmeWebhooks(SECRET, clock=lambda: time.time() - 200).verify(signed(hook("call.incoming")))


@pytest.mark.parametrize(
    ("request_", "status"),
    [
        pytest.param(signed(hook("call.incoming"), secret="wrong"), 403, id="bad"),
        pytest.param(
            msgspec.structs.replace(signed(hook("call.incoming")), body=hook("call.hangup")),
            403,
            id="tampered",
        ),
        pytest.param(signed(hook("call.incoming"), at=time.time() - 3600), 403, id="replayed-later"),
        pytest.param(signed(hook("call.incoming"), at=time.time() + 3600), 403, id="from-the-future"),
        pytest.param(
            WebhookRequest(method="POST", url=URL, headers={"acme-signature": "v1=abc"}, body=b"{}"),
            403,
            id="no-timestamp",
        ),
        pytest.param(
            WebhookRequest(method="POST", url=URL, headers={}, body=hook("call.incoming")), 401, id="missing"
        ),
    ],
)
def test_verification_fails_closed(request_: WebhookRequest, status: int) -> None:
    with pytest.raises(WebhookRejected) as rejected:
        AcmeWebhooks(SECRET).verify(request_)
    assert rejected.value.status == status


def test_no_secret_refuses_to_start_unless_verification_is_skipped(caplog: pytest.LogCaptureFixture) -> None:
    with pytest.raises(AdapterConfigError, match=r"acme\.webhookSecret"):
        AcmeWebhooks(None)
    AcmeWebhooks(None, skip_verification=True).verify(signed(hook("call.incoming"), secret="any"))
    assert "WITHOUT signature verification" in caplog.text


def test_an_incoming_call_starts_a_call() -> None:
    event = AcmeWebhooks(SECRET).parse(signed(hook("call.incoming")))
    assert isinstance(event, CallStarted) and event.direction == "inbound" and event.expects_reply
    assert (event.from_number, event.to_number) == ("+14155550100", "+15005550006")
    assert event.provider_call_id == "ac_1" and event.call_id is None  # not ours yet


def test_a_retry_has_the_same_event_id_and_another_event_another() -> None:
    parser = AcmeWebhooks(SECRET)
    first = parser.parse(signed(hook("call.incoming"), at=time.time() - 60))
    retry = parser.parse(signed(hook("call.incoming")))
    other = parser.parse(signed(hook("call.incoming", event_id="ev2")))
    assert first is not None and retry is not None and other is not None
    assert first.event_id == retry.event_id != other.event_id


def test_a_gather_result_carries_identity_and_turn() -> None:
    state = CallIdentity(call_id="c1", kind="gather", turn=3).client_state()
    event = AcmeWebhooks(SECRET).parse(
        signed(hook("call.gather.ended", state=state, status="ok", speech="hi", confidence=0.9))
    )
    assert isinstance(event, UserInput) and event.speech == "hi" and event.confidence == 0.9
    assert (event.call_id, event.turn) == ("c1", 3) and event.expects_reply


def test_foreign_client_state_names_no_call() -> None:
    event = AcmeWebhooks(SECRET).parse(signed(hook("call.answered", state="not-ours")))
    assert isinstance(event, CallAnswered) and event.call_id is None


def test_an_outbound_answer_starts_the_conversation_with_machine_detection() -> None:
    body = hook("call.answered", answered_by="machine").replace(b'"inbound"', b'"outbound"')
    event = AcmeWebhooks(SECRET).parse(signed(body))
    assert isinstance(event, CallStarted) and event.direction == "outbound" and event.expects_reply
    assert event.answered_by == "machine"


@pytest.mark.parametrize(
    ("type_", "data", "expected"),
    [
        ("call.answered", {}, CallAnswered),  # inbound: after our answer command
        ("call.ringing", {}, CallRinging),
        ("call.gather.ended", {"status": "ok", "digits": "1"}, UserInput),
        ("call.gather.ended", {"status": "ok", "speech": ""}, NoInput),
        ("call.gather.ended", {"status": "timeout"}, NoInput),
        ("call.speak.ended", {}, PlaybackFinished),
        ("call.playback.ended", {}, PlaybackFinished),
        ("call.recording.saved", {"recording_url": "https://acme.example/r.wav"}, RecordingReady),
        ("call.hangup", {"cause": "busy"}, CallEnded),
        ("call.bridged", {}, type(None)),  # not for us
    ],
)
def test_each_event_type(type_: str, data: dict[str, Any], expected: type) -> None:
    assert type(AcmeWebhooks(SECRET).parse(signed(hook(type_, **data)))) is expected


@pytest.mark.parametrize(
    ("cause", "reason"),
    [
        ("normal_clearing", "completed"),
        ("caller_hangup", "hangup-user"),
        ("no_answer", "no-answer"),
        ("?", "completed"),
    ],
)
def test_hangup_causes_map_to_end_reasons(cause: str, reason: str) -> None:
    event = AcmeWebhooks(SECRET).parse(signed(hook("call.hangup", cause=cause, duration_secs=12)))
    assert isinstance(event, CallEnded) and event.reason == reason and event.duration_seconds == 12


@pytest.mark.parametrize(
    "body",
    [b'{"type": "call.incoming"}', b"not json", hook("call.recording.saved")],
    ids=["missing-fields", "not-json", "recording-without-url"],
)
def test_a_malformed_body_is_400(body: bytes) -> None:
    with pytest.raises(WebhookRejected) as rejected:
        AcmeWebhooks(SECRET).parse(signed(body))
    assert rejected.value.status == 400
