"""One table maps errors to HTTP statuses, for webhook and control routes alike."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import pytest
import respx
from litestar.testing import TestClient
from twilio_helpers import (
    WEBHOOK_URL,
    from_client,
    incoming_call,
    post_signed,
    twilio_app,
    twilio_config,
    twiml,
)

from telephony.adapters.twilio import TwilioResponder
from telephony.engine import CallLimitReached, CallNotFound, CallNotLive
from telephony.providers import (
    Action,
    CallControlError,
    CallRef,
    TelephonyError,
    WebhookRejected,
    WebhookReply,
)
from telephony.runtime import Runtime
from telephony.server import InvalidRequest, NotServing, create_app, status_for
from telephony.store import MemoryCallStore


@pytest.mark.parametrize(
    ("error", "status"),
    [
        (WebhookRejected(401, "unsigned"), 401),
        (WebhookRejected(413, "too large"), 413),
        (InvalidRequest("bad body"), 400),
        (CallNotFound("no call"), 404),
        (CallNotLive("ended"), 409),
        (CallLimitReached("busy"), 429),
        (NotServing("not started"), 503),
        (CallControlError("Invalid 'To'", status=400, code=21211), 400),
        (CallControlError("Twilio is down", status=503), 502),
        (CallControlError("connection reset"), 502),
        (TelephonyError("fromNumber is not configured"), 400),
        (RuntimeError("a bug"), 500),
    ],
)
def test_status_for(error: BaseException, status: int) -> None:
    assert status_for(error) == status


def test_control_errors_answer_json_with_the_mapped_status() -> None:
    with twilio_app(twilio_config()) as client:
        missing = client.post("/api/calls/nope/speak", json={"text": "hi"})
        malformed = client.post(
            "/api/calls/nope/speak", content=b"{", headers={"content-type": "application/json"}
        )
    assert missing.status_code == 404 and missing.json() == {"error": "no call 'nope'"}
    assert malformed.status_code == 400 and malformed.json()["error"].startswith("invalid request")


def test_speaking_on_an_ended_call_is_a_conflict(twilio_api: respx.MockRouter) -> None:
    with twilio_app(twilio_config()) as client:
        post_signed(client, WEBHOOK_URL, incoming_call())
        call_id = client.get("/api/calls").json()[0]["call_id"]
        assert client.post(f"/api/calls/{call_id}/end").status_code == 200
        spoke = client.post(f"/api/calls/{call_id}/speak", json={"text": "hello?"})
    assert spoke.status_code == 409 and "has ended" in spoke.json()["error"]


class _BrokenOnce(TwilioResponder):
    """A responder with a bug that bites once, as an adapter's would."""

    def __init__(self) -> None:
        super().__init__()
        self.failed = False

    async def respond(self, call: CallRef, actions: Sequence[Action]) -> WebhookReply:
        if not self.failed:
            self.failed = True
            raise KeyError("secret-internal-detail")
        return await super().respond(call, actions)


def test_an_adapter_bug_is_logged_answered_500_and_the_retry_is_handled(
    caplog: pytest.LogCaptureFixture,
) -> None:
    config = twilio_config()
    runtime = Runtime.build(config, store=MemoryCallStore())
    carrier: Any = runtime.carrier
    carrier.responder = _BrokenOnce()
    with TestClient(from_client(create_app(config, runtime=runtime), "127.0.0.1")) as client:
        failed = post_signed(client, WEBHOOK_URL, incoming_call())
        retried = post_signed(client, WEBHOOK_URL, incoming_call())
    assert failed.status_code == 500 and "secret-internal-detail" not in failed.text
    assert retried.status_code == 200 and twiml(retried.text).find("Gather") is not None
    [logged] = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert "POST /voice/webhook failed" in logged.getMessage() and logged.exc_info is not None
