"""A failed hang-up is retried with backoff on every carrier, through the one shared helper.

Each carrier's real call-control client runs against its REST API mocked with respx: network
errors, 5xx and 429 are retried (honouring ``Retry-After``), a refusal (4xx) is not, "already
ended" is success, and every failure is logged with its cause and never with a secret.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import httpx
import pytest
import respx
from plivo_helpers import AUTH_ID, CALL_UUID, CALLS
from plivo_helpers import AUTH_TOKEN as PLIVO_TOKEN
from telnyx_helpers import API as TELNYX_API

from telephony.adapters.plivo import PlivoCallControl
from telephony.adapters.telnyx import TelnyxApi, TelnyxCallControl
from telephony.adapters.twilio import TwilioCallControl
from telephony.providers import CallControl, CallControlError, CallRef, RetryPolicy

FAST = RetryPolicy(attempts=3, first_delay=0.01, max_delay=0.02, total_seconds=5.0)
TWILIO_TOKEN = "twilio-secret-token-0123456789"
TELNYX_KEY = "KEY-telnyx-secret-0123456789"
TELNYX_ID = "v3:control-id-1"


@dataclass(frozen=True)
class Kit:
    """One carrier's hang-up: its client, the request it makes, and its "already ended" answer."""

    name: str
    control: Callable[[RetryPolicy], CallControl]
    method: str
    url: str
    call: CallRef
    gone: httpx.Response
    secret: str


KITS = [
    Kit(
        "twilio",
        lambda policy: TwilioCallControl(account_sid="AC123", auth_token=TWILIO_TOKEN, retry=policy),
        "POST",
        "https://api.twilio.com/2010-04-01/Accounts/AC123/Calls/CA42.json",
        CallRef(call_id="c1", provider_call_id="CA42"),
        httpx.Response(404, json={"code": 20404, "message": "not found", "status": 404}),
        TWILIO_TOKEN,
    ),
    Kit(
        "telnyx",
        lambda policy: TelnyxCallControl(TelnyxApi(TELNYX_KEY), connection_id="conn", retry=policy),
        "POST",
        f"{TELNYX_API}/calls/{quote(TELNYX_ID, safe=':')}/actions/hangup",
        CallRef(call_id="c1", provider_call_id=TELNYX_ID),
        httpx.Response(422, json={"errors": [{"code": "90018", "title": "Call has already ended"}]}),
        TELNYX_KEY,
    ),
    Kit(
        "plivo",
        lambda policy: PlivoCallControl(auth_id=AUTH_ID, auth_token=PLIVO_TOKEN, retry=policy),
        "DELETE",
        f"{CALLS}{CALL_UUID}/",
        CallRef(call_id="c1", provider_call_id=CALL_UUID),
        httpx.Response(204),
        PLIVO_TOKEN,
    ),
]


@pytest.fixture(params=KITS, ids=[kit.name for kit in KITS])
def kit(request: pytest.FixtureRequest) -> Kit:
    return request.param  # type: ignore[no-any-return]


def _route(router: respx.MockRouter, kit: Kit, side_effect: Any) -> respx.Route:
    return router.route(method=kit.method, url=kit.url).mock(side_effect=side_effect)


def _ok() -> httpx.Response:
    return httpx.Response(200, json={"sid": "CA42", "status": "completed", "data": {"result": "ok"}})


async def _hang_up(kit: Kit, policy: RetryPolicy = FAST) -> None:
    control = kit.control(policy)
    try:
        await control.hangup(kit.call)
    finally:
        await control.aclose()


def _carrier_logs(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "telephony.carrier"]


async def test_two_failures_then_success(
    kit: Kit, no_network: respx.MockRouter, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    route = _route(no_network, kit, [httpx.Response(503), httpx.ConnectError("refused"), _ok()])
    await _hang_up(kit)
    assert route.call_count == 3
    retries = _carrier_logs(caplog)
    assert [r.levelname for r in retries] == ["WARNING", "WARNING"]
    first, second = (r.getMessage() for r in retries)
    assert "call c1" in first and "hang-up failed, attempt 1 of 3" in first and "503" in first
    assert "attempt 2 of 3" in second and "ConnectError" in second
    assert kit.secret not in caplog.text


async def test_gives_up_after_the_attempts_with_a_logged_error(
    kit: Kit, no_network: respx.MockRouter, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    route = _route(no_network, kit, lambda request: httpx.Response(500))
    with pytest.raises(CallControlError, match="500") as failed:
        await _hang_up(kit)
    assert route.call_count == FAST.attempts and failed.value.status == 500
    final = _carrier_logs(caplog)[-1]
    assert final.levelname == "ERROR"
    assert "call c1" in final.getMessage() and "giving up after 3 attempts" in final.getMessage()
    assert kit.secret not in caplog.text


@pytest.mark.parametrize("status", [400, 401, 403])
async def test_a_refusal_is_not_retried(
    kit: Kit, status: int, no_network: respx.MockRouter, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    route = _route(no_network, kit, lambda request: httpx.Response(status, json={"message": "no"}))
    with pytest.raises(CallControlError) as failed:
        await _hang_up(kit)
    assert route.call_count == 1 and failed.value.status == status and not failed.value.transient
    assert "not retried" in _carrier_logs(caplog)[-1].getMessage()


async def test_already_ended_is_success_and_not_retried(kit: Kit, no_network: respx.MockRouter) -> None:
    route = _route(no_network, kit, lambda request: kit.gone)
    if kit.name == "plivo":  # a 404 on the call: Plivo then cancels the request by the same id
        route.mock(side_effect=lambda request: httpx.Response(404))
        cancel = no_network.delete(f"https://api.plivo.com/v1/Account/{AUTH_ID}/Request/{CALL_UUID}/")
        cancel.mock(return_value=httpx.Response(404))
    await _hang_up(kit)
    assert route.call_count == 1


async def test_retry_after_is_honoured(
    kit: Kit, no_network: respx.MockRouter, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    busy = httpx.Response(429, headers={"Retry-After": "1"}, json={"message": "slow down"})
    route = _route(no_network, kit, [busy, _ok()])
    await _hang_up(kit)
    assert route.call_count == 2
    assert "retrying in 1.00 s" in _carrier_logs(caplog)[0].getMessage()


async def test_a_retry_after_beyond_the_budget_gives_up_at_once(
    kit: Kit, no_network: respx.MockRouter
) -> None:
    busy = httpx.Response(503, headers={"Retry-After": "3600"})
    route = _route(no_network, kit, lambda request: busy)
    with pytest.raises(CallControlError) as failed:
        await _hang_up(kit)
    assert route.call_count == 1 and failed.value.retry_after == 3600
