"""``/metrics`` through the real app: the numbers move with real calls, refusals and restarts."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

import pytest
import respx
from litestar.exceptions import WebSocketDisconnect
from litestar.testing import TestClient
from prometheus_client.parser import text_string_to_metric_families
from test_stream_seed import CONNECTED, _connect_stream, _start, _until
from test_stream_turns import ScriptedSTT, _ack, _speak
from twilio_helpers import (
    WEBHOOK_URL,
    from_client,
    incoming_call,
    post_signed,
    sign,
    twilio_app,
    twilio_config,
    twiml,
)

from telephony.observability import FrameLagMeter, Metrics
from telephony.providers import MULAW_8K, WebhookRejected
from telephony.runtime import Runtime
from telephony.server import create_app
from telephony.store import SqliteCallStore

FORM = {"Content-Type": "application/x-www-form-urlencoded"}
Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def _scrape(client: TestClient[Any], **headers: str) -> Samples:
    response = client.get("/metrics", headers=headers)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain; version=")
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def _value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def _total(samples: Samples, name: str, **labels: str) -> float:
    """Sum over every series of ``name`` whose labels include ``labels``."""
    wanted = set(labels.items())
    return sum(value for (key, found), value in samples.items() if key == name and wanted <= found)


def _gather_turn(client: TestClient[Any], words: str) -> None:
    greeting = twiml(post_signed(client, WEBHOOK_URL, incoming_call()).text).find("Gather")
    assert greeting is not None
    params = incoming_call() | {"CallStatus": "in-progress", "SpeechResult": words}
    assert post_signed(client, greeting.attrib["action"], params).status_code == 200


def _end(client: TestClient[Any]) -> None:
    params = incoming_call() | {"CallStatus": "completed"}
    assert post_signed(client, f"{WEBHOOK_URL}?kind=status", params).status_code == 200


ACTIVE = "telephony_active_calls"
TURNS = "telephony_turn_latency_seconds_count"
STORE = "telephony_store_operation_seconds_count"


def test_a_markup_call_moves_active_calls_turn_latency_and_store_latency() -> None:
    with twilio_app(twilio_config()) as client:
        before = _scrape(client)
        _gather_turn(client, "What time is it?")
        during = _scrape(client)
        _end(client)
        after = _scrape(client)
    labels = {"carrier": "twilio", "direction": "inbound", "media": "markup"}
    assert _value(before, ACTIVE, **labels) == 0
    assert _value(during, ACTIVE, **labels) == 1
    assert _value(after, ACTIVE, **labels) == 0, "an ended call is no longer active"
    assert _value(before, TURNS, carrier="twilio", media="markup") == 0
    assert _value(during, TURNS, carrier="twilio", media="markup") == 1
    assert _value(during, "telephony_turn_latency_seconds_sum", carrier="twilio", media="markup") > 0
    for operation in ("get", "transaction", "list_calls"):
        assert _value(during, STORE, operation=operation) > _value(before, STORE, operation=operation)


def test_active_calls_are_right_after_a_restart(tmp_path: Path) -> None:
    config = twilio_config(store=str(tmp_path))
    with twilio_app(config, store=SqliteCallStore(tmp_path)) as client:
        _gather_turn(client, "Hello.")
    with twilio_app(config, store=SqliteCallStore(tmp_path)) as client:  # a new process, the same file
        samples = _scrape(client)
    assert _value(samples, ACTIVE, carrier="twilio", direction="inbound", media="markup") == 1


def test_badly_signed_webhooks_count_as_verification_failures_by_reason() -> None:
    failures = "telephony_webhook_verification_failures_total"
    with twilio_app(twilio_config()) as client:
        forged = FORM | {"X-Twilio-Signature": sign(WEBHOOK_URL, incoming_call(), token="not-the-token")}
        body = urlencode(incoming_call())
        assert client.post("/voice/webhook", content=body, headers=forged).status_code == 403
        assert client.post("/voice/webhook", content=body, headers=FORM).status_code == 401
        assert post_signed(client, WEBHOOK_URL, incoming_call()).status_code == 200
        samples = _scrape(client)
    assert _value(samples, failures, carrier="twilio", reason="invalid") == 1
    assert _value(samples, failures, carrier="twilio", reason="missing") == 1
    assert _total(samples, failures) == 2, "a good signature is no failure"
    assert _value(samples, "telephony_rejected_requests_total", status="403") == 1
    assert _value(samples, "telephony_rejected_requests_total", status="401") == 1


def test_rejected_requests_are_counted_by_status_whoever_refuses_them() -> None:
    config = twilio_config(controlToken="control-secret-0123")
    with twilio_app(config) as client:
        assert client.get("/api/calls").status_code == 401  # the guard
        assert client.get("/api/calls/0123456789abcdef", headers=_bearer()).status_code == 404  # the engine
        too_long = {"to": "+14155550100", "message": "x" * 5000}
        assert client.post("/api/calls", json=too_long, headers=_bearer()).status_code == 422
        assert client.get("/api/calls", headers=_bearer()).status_code == 200
        samples = _scrape(client, **_bearer())
    rejected = "telephony_rejected_requests_total"
    assert _value(samples, rejected, status="401") == 1
    assert _value(samples, rejected, status="404") == 1
    assert _value(samples, rejected, status="422") == 1
    assert _total(samples, rejected) == 3


def _bearer(token: str = "control-secret-0123") -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_metrics_are_guarded_like_the_control_api() -> None:
    with twilio_app(twilio_config(controlToken="control-secret-0123")) as client:
        assert client.get("/metrics").status_code == 401
        assert client.get("/metrics", headers=_bearer("wrong")).status_code == 401
        assert client.get("/metrics", headers=_bearer()).status_code == 200
    with twilio_app(twilio_config(), client_host="203.0.113.7") as client:
        assert client.get("/metrics").status_code == 403, "no token: this machine only"
    with twilio_app(twilio_config()) as client:
        assert client.get("/metrics", headers={"X-Forwarded-For": "203.0.113.7"}).status_code == 403
        assert client.get("/metrics").status_code == 200


def test_metrics_can_be_turned_off() -> None:
    with twilio_app(twilio_config(metrics={"enabled": False})) as client:
        assert client.get("/metrics").status_code == 404


def test_metrics_are_served_under_the_mount_path() -> None:
    config = twilio_config()
    runtime = Runtime.build(config, mount_path="/telephony")
    app = from_client(create_app(config, runtime=runtime, mount_path="/telephony"), "127.0.0.1")

    async def mounted(scope: Any, receive: Any, send: Any) -> None:
        path = scope.get("path", "")
        if scope["type"] in ("http", "websocket") and path.startswith("/telephony/"):
            scope = {**scope, "root_path": "/telephony", "path": path.removeprefix("/telephony")}
        await app(scope, receive, send)

    with TestClient(mounted) as client:
        response = client.get("/telephony/metrics")
    assert response.status_code == 200 and "telephony_active_calls" in response.text


def test_two_apps_in_one_process_count_apart() -> None:
    with twilio_app(twilio_config()) as first, twilio_app(twilio_config()) as second:
        first.post("/voice/webhook", content=urlencode(incoming_call()), headers=FORM)
        counted, untouched = _scrape(first), _scrape(second)
    failures = "telephony_webhook_verification_failures_total"
    assert _total(counted, failures) == 1 and _total(untouched, failures) == 0


def test_a_stream_call_observes_frame_lag(twilio_api: respx.MockRouter) -> None:
    with twilio_app(twilio_config(streaming=True), stt=ScriptedSTT(["what time is it"])) as client:
        url, params = _connect_stream(client)
        with client.websocket_connect(urlsplit(url).path) as ws:
            ws.send_text(CONNECTED)
            ws.send_text(_start(params))
            _ack(ws, _until(ws, "mark")[-1])
            _speak(ws)  # 1.5 s of audio: 75 frames, one full window and a partial one
            _ack(ws, _until(ws, "mark")[-1])
            during = _scrape(client)
        assert _value(during, ACTIVE, carrier="twilio", direction="inbound", media="stream") == 1
        assert _value(during, TURNS, carrier="twilio", media="stream") == 1
        with pytest.raises(WebSocketDisconnect), client.websocket_connect(urlsplit(url).path):
            pass  # the token is single-use: refused on the upgrade, never accepted
        with client.websocket_connect("/voice/stream") as replay:  # and in the start message
            replay.send_text(CONNECTED)
            replay.send_text(_start(params))
            with pytest.raises(WebSocketDisconnect) as refused:
                replay.receive()
            assert refused.value.code == 1008
        after = _scrape(client)
    assert _value(during, "telephony_stream_frame_lag_seconds_count", carrier="twilio") >= 1
    assert _value(after, "telephony_stream_frame_lag_seconds_count", carrier="twilio") == 2, (
        "the partial window is observed when the stream ends"
    )
    assert _value(after, "telephony_rejected_requests_total", status="1008") == 1
    assert _value(after, "telephony_rejected_requests_total", status="403") == 1
    assert _value(during, "telephony_store_operation_seconds_count", operation="consume_token") == 1


# ---------------------------------------------------------------- the frame lag definition


class _Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@pytest.mark.parametrize("timestamps", [True, False], ids=["carrier timestamps", "audio duration"])
def test_frame_lag_is_lateness_against_the_most_prompt_frame(timestamps: bool) -> None:
    clock, observed = _Clock(), []
    meter = FrameLagMeter(observed.append, MULAW_8K, window=5, clock=clock)

    def frame(index: int, late_ms: float) -> None:
        clock.now = 100.0 + (index * 20 + late_ms) / 1000
        meter.frame(160, index * 20 if timestamps else None)

    for index in range(5):  # on time, with a little jitter
        frame(index, 3.0 if index == 2 else 0.0)
    for index in range(5, 10):  # the loop fell 120 ms behind, then caught up
        frame(index, 120.0 if index == 6 else 0.0)
    frame(10, 0.0)
    meter.flush()
    meter.flush()  # nothing new: nothing observed
    assert observed == pytest.approx([0.003, 0.120, 0.0])


def test_frame_lag_baseline_follows_the_most_prompt_frame() -> None:
    clock, observed = _Clock(), []
    meter = FrameLagMeter(observed.append, MULAW_8K, window=3, clock=clock)
    for index, late_ms in enumerate([50.0, 0.0, 10.0]):  # the first frame itself was late
        clock.now = 100.0 + (index * 20 + late_ms) / 1000
        meter.frame(160, index * 20)
    assert observed == pytest.approx([0.010])


def test_verification_reasons_are_a_bounded_set() -> None:
    metrics = Metrics()
    for reason in (
        "invalid X-Twilio-Signature",
        "missing X-Plivo-Signature-V3 header",
        "stale telnyx-timestamp (more than 300 s from our clock)",
        "malformed telnyx-timestamp",
        "the signature of +14155550100 was odd",
    ):
        metrics.verification_failed("acme", WebhookRejected(403, reason))
    reasons = {
        sample.labels["reason"]
        for family in metrics.registry.collect()
        for sample in family.samples
        if sample.name == "telephony_webhook_verification_failures_total"
    }
    assert reasons == {"invalid", "missing", "stale", "malformed", "other"}
