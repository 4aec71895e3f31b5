"""Every URL the server checks or gives out is right for both forms of publicUrl.

The forms: an origin with an optional prefix (``https://host[/prefix]``), or the full webhook URL
as openclaw documents it (``https://host[/prefix]/voice/webhook``). Requests are signed by
Twilio's own ``RequestValidator`` over the URL Twilio would call.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
import respx
from litestar.testing import TestClient
from test_stream_seed import _start, _until
from twilio_helpers import (
    ACCOUNT_SID,
    CALL_SID,
    OUR_NUMBER,
    from_client,
    incoming_call,
    sign,
    twilio_config,
    twiml,
)

from telephony.config import config_from_mapping
from telephony.providers import CarrierContext
from telephony.runtime import Runtime
from telephony.server import background_server, create_app, free_port
from telephony.store import MemoryCallStore

CALLEE = "+14155550100"

# (publicUrl as configured, the public base every URL must start with)
FORMS = [
    pytest.param("https://voice.example.com", "https://voice.example.com", id="origin"),
    pytest.param("https://voice.example.com/voice/webhook", "https://voice.example.com", id="webhook-url"),
    pytest.param("https://voice.example.com/edge", "https://voice.example.com/edge", id="origin-prefix"),
    pytest.param(
        "https://voice.example.com/edge/voice/webhook",
        "https://voice.example.com/edge",
        id="webhook-url-prefix",
    ),
]


def _post(client: TestClient[Any], public_url: str, params: dict[str, str]) -> Any:
    """POST as Twilio: signed over ``public_url``; a prefix proxy strips ``/edge`` on the way in."""
    parts = urlsplit(public_url)
    path = parts.path.removeprefix("/edge")
    headers = {
        "X-Twilio-Signature": sign(public_url, params),
        "Content-Type": "application/x-www-form-urlencoded",
    }
    query = f"?{parts.query}" if parts.query else ""
    return client.post(path + query, content=urlencode(params).encode(), headers=headers)


def _app(public_url: str, **extra: Any) -> TestClient[Any]:
    config = twilio_config(publicUrl=public_url, **extra)
    runtime = Runtime.build(config, store=MemoryCallStore())
    return TestClient(from_client(create_app(config, runtime=runtime), "127.0.0.1"))


@pytest.mark.parametrize(("public_url", "base"), FORMS)
def test_inbound_webhook_and_gather_turn_are_signed_and_advertised_on_the_base(
    public_url: str, base: str
) -> None:
    webhook = f"{base}/voice/webhook"
    with _app(public_url) as client:
        answered = _post(client, webhook, incoming_call())
        assert answered.status_code == 200, answered.text
        gather = twiml(answered.text).find("Gather")
        assert gather is not None
        action = gather.attrib["action"]
        assert action.startswith(f"{webhook}?callId=") and "kind=gather" in action
        turn = _post(
            client, action, incoming_call() | {"SpeechResult": "What time is it", "Confidence": "0.9"}
        )
        assert turn.status_code == 200, turn.text
        reply = twiml(turn.text).find("Gather")
        assert reply is not None and reply.attrib["action"].startswith(f"{webhook}?callId=")
        # The URL the old code signed: publicUrl with serve.path appended once more.
        doubled = f"{public_url.rstrip('/')}/voice/webhook"
        if doubled != webhook:
            forged = {"X-Twilio-Signature": sign(doubled, incoming_call())}
            refused = client.post(
                urlsplit(webhook).path.removeprefix("/edge"), data=incoming_call(), headers=forged
            )
            assert refused.status_code == 403


@pytest.mark.parametrize(("public_url", "base"), FORMS)
def test_stream_url_is_the_base_as_wss_and_is_served(
    public_url: str, base: str, twilio_api: respx.MockRouter
) -> None:
    with _app(public_url, streaming=True) as client:
        stream = twiml(_post(client, f"{base}/voice/webhook", incoming_call()).text).find("Connect/Stream")
        assert stream is not None
        url = stream.attrib["url"]
        params = {p.attrib["name"]: p.attrib["value"] for p in stream.findall("Parameter")}
        credential = f"/{params['callId']}/{params['token']}"
        assert url == base.replace("https://", "wss://") + "/voice/stream" + credential
        with client.websocket_connect(urlsplit(url).path.removeprefix("/edge")) as ws:
            ws.send_text(_start(params))
            assert any(frame["event"] == "media" for frame in _until(ws, "mark"))
            ws.send_text('{"event": "stop", "streamSid": "MZ' + "9" * 32 + '"}')


@pytest.mark.parametrize(("public_url", "base"), FORMS)
def test_outbound_call_urls_are_on_the_base_and_answer(
    public_url: str, base: str, twilio_api: respx.MockRouter
) -> None:
    webhook = f"{base}/voice/webhook"
    with _app(public_url) as client:
        placed = client.post("/api/calls", json={"to": CALLEE, "message": "Hi", "mode": "conversation"})
        assert placed.status_code == 201, placed.text
        call_id = placed.json()["call_id"]
        form = parse_qs(twilio_api.calls[0].request.content.decode())
        assert form["Url"] == [f"{webhook}?callId={call_id}&kind=answer"]
        assert form["StatusCallback"] == [f"{webhook}?callId={call_id}&kind=status"]
        answer = {
            "CallSid": CALL_SID,
            "AccountSid": ACCOUNT_SID,
            "CallStatus": "in-progress",
            "Direction": "outbound-api",
            "From": OUR_NUMBER,
            "To": CALLEE,
        }
        answered = _post(client, form["Url"][0], answer)
        status = _post(client, form["StatusCallback"][0], answer | {"CallStatus": "completed"})
        record = client.get(f"/api/calls/{call_id}").json()
    assert answered.status_code == 200 and twiml(answered.text).find("Gather/Say") is not None
    assert status.status_code == 200 and record["state"] == "completed"


@pytest.mark.parametrize(("public_url", "base"), FORMS)
def test_carrier_context_and_start_up_log_name_the_exact_urls(
    public_url: str, base: str, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    import telephony.runtime as runtime_module

    seen: list[CarrierContext] = []
    load_carrier = runtime_module.load_carrier

    def spy(config: Any, context: CarrierContext) -> Any:
        seen.append(context)
        return load_carrier(config, context)

    monkeypatch.setattr(runtime_module, "load_carrier", spy)
    caplog.set_level(logging.INFO, logger="telephony")
    with _app(public_url, streaming=True):
        pass
    assert seen[0].public_url == base
    assert seen[0].webhook_url == f"{base}/voice/webhook"
    logged = caplog.text
    assert f"webhook (a call comes in): {base}/voice/webhook\n" in logged
    assert f"status callback (call status changes): {base}/voice/webhook?kind=status\n" in logged
    assert base.replace("https://", "wss://") + "/voice/stream\n" in logged


def test_a_query_in_public_url_is_ignored_with_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    with _app("https://voice.example.com/voice/webhook?key=s3cret") as client:
        answered = _post(client, "https://voice.example.com/voice/webhook", incoming_call())
    assert answered.status_code == 200
    assert "publicUrl has a query string" in caplog.text and "ignored" in caplog.text
    assert "s3cret" not in caplog.text


@pytest.mark.parametrize("public_url", ["https://voice.example.com", "https://voice.example.com/tel"])
def test_a_server_root_path_appears_once(public_url: str, twilio_api: respx.MockRouter) -> None:
    # `uvicorn --root-path /tel` behind a proxy that keeps the prefix: requests say where we are.
    config = twilio_config(publicUrl=public_url)
    runtime = Runtime.build(config, store=MemoryCallStore())
    app = from_client(create_app(config, runtime=runtime), "127.0.0.1")
    webhook = "https://voice.example.com/tel/voice/webhook"
    with TestClient(app, root_path="/tel") as client:
        params = incoming_call()
        headers = {"X-Twilio-Signature": sign(webhook, params)}
        answered = client.post("/voice/webhook", data=params, headers=headers)
        assert answered.status_code == 200, answered.text
        gather = twiml(answered.text).find("Gather")
        assert gather is not None and gather.attrib["action"].startswith(f"{webhook}?callId=")
        client.post("/api/calls", json={"to": CALLEE, "message": "Hi", "mode": "notify"})
    form = parse_qs(twilio_api.calls[0].request.content.decode())
    assert form["Url"][0].startswith(f"{webhook}?callId=")


@pytest.mark.parametrize("form", ["origin", "webhook-url"])
async def test_local_carrier_calls_in_and_out_over_a_real_socket(form: str) -> None:
    port = free_port()
    origin = f"http://127.0.0.1:{port}"
    config = config_from_mapping(
        {
            "provider": "local",
            "publicUrl": origin if form == "origin" else f"{origin}/voice/webhook",
            "fromNumber": OUR_NUMBER,
            "inboundPolicy": "open",
            "maxConcurrentCalls": 2,
            "agent": "builtin",
            "carriers": {"local": {"secret": "s3cret", "script": ["Yes, go on.", "Thanks, goodbye."]}},
        },
        env={},
    )
    runtime = Runtime.build(config, store=MemoryCallStore())
    carrier: Any = runtime.carrier
    assert carrier.simulator.webhook_url == f"{origin}/voice/webhook"
    async with background_server(create_app(config, runtime=runtime), port=port):
        inbound = await carrier.simulator.inbound_call(
            caller=CALLEE, callee=OUR_NUMBER, script=["Hello there.", "Goodbye."]
        )
        placed = await runtime.engine.place_call(to=CALLEE, message="Hi, a minute?", mode="conversation")
        for _ in range(200):
            outbound = await runtime.store.get(placed.call_id)
            if outbound is not None and outbound.ended_at is not None:
                break
            await asyncio.sleep(0.05)
    assert [t.speaker for t in inbound.turns][:3] == ["bot", "caller", "bot"] and inbound.ended_by == "bot"
    assert outbound is not None and outbound.state == "hangup-bot"
    assert [t.text for t in outbound.transcript if t.speaker == "user"] == ["Yes, go on.", "Thanks, goodbye."]


def test_a_trusted_forwarded_host_keeps_the_prefix_of_the_base() -> None:
    security = {"trustForwardingHeaders": True, "allowedHosts": ["edge.example.org"]}
    with _app("https://voice.example.com/edge/voice/webhook", webhookSecurity=security) as client:
        url = "https://edge.example.org/edge/voice/webhook"
        headers = {
            "X-Twilio-Signature": sign(url, incoming_call()),
            "X-Forwarded-Host": "edge.example.org",
            "X-Forwarded-Proto": "https",
        }
        answered = client.post("/voice/webhook", data=incoming_call(), headers=headers)
        gather = twiml(answered.text).find("Gather")
    assert answered.status_code == 200
    # What the server hands out still comes from publicUrl, never from a header.
    assert gather is not None and gather.attrib["action"].startswith(
        "https://voice.example.com/edge/voice/webhook?"
    )
