"""The local carrier's own dialect: signed JSON webhooks, JSON markup, JSON media frames."""

from __future__ import annotations

import json

import pytest

from telephony.adapters.local import LocalMediaCodec, LocalWebhooks, sign, signed_headers
from telephony.providers import (
    AudioReceived,
    CallStarted,
    ClearAudio,
    MarkReached,
    MediaRejected,
    SendMark,
    StreamStarted,
    UserInput,
    WebhookRejected,
    WebhookRequest,
)

URL = "http://127.0.0.1:3334/voice/webhook?callId=c1&kind=gather"
NOW = 1_800_000_000.0


def _request(body: bytes, headers: dict[str, str]) -> WebhookRequest:
    return WebhookRequest(method="POST", url=URL, headers=headers, body=body)


def test_signed_webhook_verifies_and_parses() -> None:
    body = json.dumps({"event": "input", "call": "LC1", "speech": "hello", "confidence": 0.8}).encode()
    hooks = LocalWebhooks("secret", clock=lambda: NOW)
    request = _request(body, signed_headers("secret", URL, body, now=NOW))
    hooks.verify(request)
    event = hooks.parse(request)
    assert isinstance(event, UserInput) and event.speech == "hello" and event.call_id == "c1"


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        ({}, 401),
        ({"x-local-signature": "v1=00", "x-local-timestamp": str(int(NOW))}, 403),
        (
            {
                "x-local-signature": sign("secret", URL, b"{}", int(NOW) - 301),
                "x-local-timestamp": str(int(NOW) - 301),
            },
            403,
        ),
        ({"x-local-signature": sign("other", URL, b"{}", int(NOW)), "x-local-timestamp": str(int(NOW))}, 403),
        ({"x-local-signature": sign("secret", URL, b"{}", int(NOW)), "x-local-timestamp": "soon"}, 403),
    ],
    ids=["unsigned", "garbage", "stale", "wrong-secret", "bad-timestamp"],
)
def test_bad_local_signatures_fail_closed(headers: dict[str, str], status: int) -> None:
    with pytest.raises(WebhookRejected) as rejected:
        LocalWebhooks("secret", clock=lambda: NOW).verify(_request(b"{}", headers))
    assert rejected.value.status == status


def test_unknown_event_and_malformed_body_are_400() -> None:
    hooks = LocalWebhooks("secret")
    for body in (b'{"event": "dance", "call": "LC1"}', b"not json", b'{"event": "started"}'):
        with pytest.raises(WebhookRejected) as rejected:
            hooks.parse(_request(body, {}))
        assert rejected.value.status == 400


def test_started_event_carries_direction_and_numbers() -> None:
    body = (
        b'{"event":"started","call":"LC1","direction":"outbound","caller":"+1","callee":"+2","machine":true}'
    )
    event = LocalWebhooks("s").parse(_request(body, {}))
    assert isinstance(event, CallStarted) and event.direction == "outbound" and event.answered_by == "machine"


def test_media_dialect_round_trip() -> None:
    codec = LocalMediaCodec()
    start = codec.decode('{"type":"hello","call":"LC1","stream":"LS1","params":{"token":"t"}}')
    assert start == StreamStarted(provider_call_id="LC1", stream_id="LS1", parameters={"token": "t"})
    assert codec.decode('{"type":"audio","pcmu":"//8="}') == AudioReceived(payload=b"\xff\xff")
    assert codec.decode('{"type":"played","id":"u1"}') == MarkReached(name="u1")
    assert json.loads(codec.encode(SendMark(name="u1"), "LS1")) == {
        "type": "marker",
        "stream": "LS1",
        "id": "u1",
    }
    assert json.loads(codec.encode(ClearAudio(), "LS1")) == {"type": "flush", "stream": "LS1"}
    for bad in ('{"type":"hello"}', '{"type":"audio","pcmu":"%%"}', "[]"):
        with pytest.raises(MediaRejected):
            codec.decode(bad)
