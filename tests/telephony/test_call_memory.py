"""Nothing of a finished call stays in the process beyond what the store is meant to keep.

A server runs for months: an entry left per call in any table adds up. These tests count
entries after complete calls through the real app (signed Twilio webhooks), never bytes or
time; ``python -m bench.memory`` measures the bytes.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlsplit

from litestar import Litestar
from litestar.testing import TestClient
from twilio_helpers import WEBHOOK_URL, from_client, incoming_call, post_signed, twilio_config, twiml

from telephony.runtime import Runtime
from telephony.server import create_app
from telephony.server._app import _SERVED
from telephony.store import MemoryCallStore

CALLS = 25


def _served(app: Litestar) -> Any:
    """What the app's telephony routes share (claims in flight, stream slots)."""
    for route in app.routes:
        for handler in getattr(route, "route_handlers", ()):
            if _SERVED in handler.opt:
                return handler.opt[_SERVED]
    raise AssertionError("no telephony routes")


def _complete_call(client: TestClient[Any], n: int) -> None:
    """Ring, one caller turn, then Twilio's ``completed`` status callback."""
    form = incoming_call(f"CA{n:032d}")
    gather = twiml(post_signed(client, WEBHOOK_URL, form).text).find("Gather")
    assert gather is not None
    action = gather.attrib["action"]
    turn = form | {"CallStatus": "in-progress", "SpeechResult": "Move my appointment, please."}
    assert post_signed(client, action, turn).status_code == 200
    call_id = parse_qs(urlsplit(action).query)["callId"][0]
    status = form | {"CallStatus": "completed", "CallDuration": "9"}
    assert post_signed(client, f"{WEBHOOK_URL}?callId={call_id}&kind=status", status).status_code == 200


def test_completed_calls_leave_no_entry_in_the_engine_or_the_server() -> None:
    config = twilio_config()
    store = MemoryCallStore()
    runtime = Runtime.build(config, store=store)
    app = create_app(config, runtime=runtime)
    with TestClient(from_client(app, "127.0.0.1")) as client:
        for n in range(CALLS):
            _complete_call(client, n)
        engine, served = runtime.engine, _served(app)
        left = {
            "max-duration timers": len(engine._timers),
            "listening timers": len(engine._listening),
            "streams": len(engine._streams),
            "call locks": len(engine._locks),
            "held-turn wake-ups": len(engine.held._replied_to),
            "webhook claims in flight": len(served.claims._finished),
            "stream slots": served.slots.live,
        }
        active = client.get("/api/calls", params={"active": "true"}).json()
    assert left == dict.fromkeys(left, 0)
    assert active == []


def test_an_answered_webhook_keeps_its_answer_but_not_its_claim() -> None:
    """The memory store keeps answers for the retention window (retries get them), claims not."""
    config = twilio_config()
    store = MemoryCallStore()
    with TestClient(
        from_client(create_app(config, runtime=Runtime.build(config, store=store)), "127.0.0.1")
    ) as client:
        for n in range(CALLS):
            _complete_call(client, n)
        copy = post_signed(client, WEBHOOK_URL, incoming_call(f"CA{0:032d}"))  # a late retry
    assert len(store._replies) == 3 * CALLS, "every webhook's answer is kept, for its retries"
    assert len(store._events) == 0, "no claim is kept once its webhook is answered"
    assert twiml(copy.text).find("Gather") is not None, "a retry still gets the stored answer"
