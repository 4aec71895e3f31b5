"""The app mounted at a prefix in a Litestar host (the plugin) and in a Starlette host (a Mount).

Each drives a Twilio call end to end with genuine signatures: the answer webhook, a gather turn
and its reply, a media stream, an outbound call; the signed URL and every advertised URL carry
the prefix exactly once, whichever form publicUrl is written in.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
import respx
from litestar import Litestar, get
from litestar.exceptions import WebSocketDisconnect
from litestar.testing import TestClient
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Mount, Route
from test_stream_seed import STREAM_SID, _start, _until
from twilio_helpers import (
    OUR_NUMBER,
    from_client,
    incoming_call,
    sign,
    twilio_config,
    twiml,
)

import telephony
from telephony.config import Config, config_from_mapping
from telephony.runtime import Runtime
from telephony.server import background_server, free_port
from telephony.store import MemoryCallStore

ORIGIN = "https://voice.example.com"
WEBHOOK = f"{ORIGIN}/tel/voice/webhook"
STREAM = "wss://voice.example.com/tel/voice/stream"
CALLEE = "+14155550100"
FORMS = [ORIGIN, f"{ORIGIN}/tel", f"{ORIGIN}/tel/voice/webhook"]


def _post(client: TestClient[Any], url: str, params: dict[str, str]) -> Any:
    """POST as Twilio does to ``url``: the host serves the public path as it is."""
    parts = urlsplit(url)
    headers = {"X-Twilio-Signature": sign(url, params), "Content-Type": "application/x-www-form-urlencoded"}
    target = parts.path + (f"?{parts.query}" if parts.query else "")
    return client.post(target, content=urlencode(params).encode(), headers=headers)


def _converse(client: TestClient[Any]) -> list[str]:
    """Answer webhook, one gather turn, its reply; returns every action URL advertised."""
    greeting = twiml(_post(client, WEBHOOK, incoming_call()).text).find("Gather")
    assert greeting is not None, "the answer webhook must be verified and greeted"
    turn = _post(client, greeting.attrib["action"], incoming_call() | {"SpeechResult": "What time is it"})
    assert turn.status_code == 200, turn.text
    reply = twiml(turn.text).find("Gather")
    assert reply is not None and reply.find("Say") is not None, turn.text
    return [greeting.attrib["action"], reply.attrib["action"]]


def _stream_greets(client: TestClient[Any]) -> str:
    """Stream the call; returns its stream URL without the call's credential (the route's URL)."""
    stream = twiml(_post(client, WEBHOOK, incoming_call()).text).find("Connect/Stream")
    assert stream is not None
    params = {p.attrib["name"]: p.attrib["value"] for p in stream.findall("Parameter")}
    url, credential = stream.attrib["url"], f"/{params['callId']}/{params['token']}"
    assert url.endswith(credential), "the URL names its call and token in the path"
    with client.websocket_connect(urlsplit(url).path) as ws:
        ws.send_text(_start(params))
        assert any(frame["event"] == "media" for frame in _until(ws, "mark"))
        ws.send_text(f'{{"event": "stop", "streamSid": "{STREAM_SID}"}}')
    return url.removesuffix(credential)


def _outbound_urls(client: TestClient[Any], twilio_api: respx.MockRouter) -> dict[str, list[str]]:
    placed = client.post("/tel/api/calls", json={"to": CALLEE, "message": "Hello", "mode": "conversation"})
    assert placed.status_code == 201, placed.text
    form = parse_qs(twilio_api.calls[0].request.content.decode())
    answer = incoming_call() | {"CallStatus": "in-progress", "Direction": "outbound-api", "From": OUR_NUMBER}
    answered = _post(client, form["Url"][0], answer | {"To": CALLEE})
    assert answered.status_code == 200 and twiml(answered.text).find("Gather/Say") is not None
    return form


# ---------------------------------------------------------------------- Litestar host


@get("/")
async def _home() -> str:
    return "the host's own page"


@contextmanager
def litestar_host(config: Config, **options: Any) -> Iterator[tuple[TestClient[Any], Runtime, Litestar]]:
    runtime = Runtime.build(config, store=MemoryCallStore(), prefix="/tel")
    plugin = telephony.TelephonyPlugin(runtime=runtime, path="/tel", **options)
    # logging_config=None keeps pytest's log capture: a default Litestar app reconfigures logging.
    host = Litestar(route_handlers=[_home], plugins=[plugin], logging_config=None)
    with TestClient(from_client(host, "127.0.0.1")) as client:
        yield client, runtime, host


@pytest.mark.parametrize("public_url", [ORIGIN, f"{ORIGIN}/tel/voice/webhook"])
def test_litestar_plugin_serves_a_signed_call_at_its_path(
    public_url: str, twilio_api: respx.MockRouter
) -> None:
    with litestar_host(twilio_config(publicUrl=public_url)) as (client, runtime, host):
        assert runtime.state == "running"
        assert client.get("/").text == "the host's own page"
        actions = _converse(client)
        form = _outbound_urls(client, twilio_api)
        assert client.get("/voice/webhook").status_code == 404, "nothing is served outside the path"
    assert all(url.startswith(f"{WEBHOOK}?callId=") for url in actions)
    assert form["Url"][0].startswith(f"{WEBHOOK}?callId=") and form["StatusCallback"][0].startswith(WEBHOOK)
    assert runtime.state == "closed", "the host's shutdown closes the runtime"
    assert "runtime" not in host.state, "the host's state is left alone"


def test_litestar_plugin_mounts_the_stream_route_it_advertises(twilio_api: respx.MockRouter) -> None:
    with litestar_host(twilio_config(streaming=True)) as (client, _, _):
        assert _stream_greets(client) == STREAM


def test_litestar_plugin_can_leave_the_control_api_out() -> None:
    with litestar_host(twilio_config(), control_api=False) as (client, _, _):
        assert client.get("/tel/api/calls").status_code == 404
        assert _post(client, WEBHOOK, incoming_call()).status_code == 200


@pytest.mark.parametrize("public_url", FORMS)
def test_litestar_plugin_path_reaches_the_carrier_context(public_url: str) -> None:
    config = twilio_config(provider="local", publicUrl=public_url, carriers={"local": {"secret": "s"}})
    runtime = Runtime.build(config, store=MemoryCallStore(), prefix="/tel")
    carrier: Any = runtime.carrier
    assert carrier.simulator.webhook_url == WEBHOOK


def test_litestar_plugin_logs_the_urls_to_give_the_carrier(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="telephony")
    with litestar_host(twilio_config(streaming=True)):
        pass
    assert f"webhook (a call comes in): {WEBHOOK}\n" in caplog.text
    assert f"status callback (call status changes): {WEBHOOK}?kind=status\n" in caplog.text
    assert f"{STREAM}\n" in caplog.text


# ---------------------------------------------------------------------- Starlette host


async def _host_page(request: Any) -> PlainTextResponse:
    return PlainTextResponse("the host's own page")


def starlette_host(app: Litestar, *, lifespan: bool = True) -> Starlette:
    """A host that mounts the telephony app at /tel and runs it in its own lifespan."""

    @asynccontextmanager
    async def run(host: Starlette) -> AsyncIterator[None]:
        async with telephony.serving(app):
            yield

    routes = [Route("/", _host_page), Mount("/tel", app=app)]
    return Starlette(routes=routes, lifespan=run if lifespan else None)


@contextmanager
def mounted(config: Config, *, peer: str = "127.0.0.1", **options: Any) -> Iterator[TestClient[Any]]:
    runtime = Runtime.build(config, store=MemoryCallStore(), **options)
    app = telephony.create_app(config, runtime=runtime)
    with TestClient(from_client(starlette_host(app), peer)) as client:
        yield client


@pytest.mark.parametrize("public_url", FORMS)
def test_starlette_mount_serves_a_signed_call_with_the_mount_once(
    public_url: str, twilio_api: respx.MockRouter
) -> None:
    with mounted(twilio_config(publicUrl=public_url)) as client:
        assert client.get("/").text == "the host's own page"
        actions = _converse(client)
        form = _outbound_urls(client, twilio_api)
    assert all(url.startswith(f"{WEBHOOK}?callId=") for url in actions)
    assert form["Url"][0].startswith(f"{WEBHOOK}?callId=") and form["StatusCallback"][0].startswith(WEBHOOK)


@pytest.mark.parametrize("public_url", FORMS)
def test_starlette_mount_advertises_and_serves_the_stream(
    public_url: str, twilio_api: respx.MockRouter
) -> None:
    with mounted(twilio_config(publicUrl=public_url, streaming=True)) as client:
        assert _stream_greets(client) == STREAM


def test_a_signature_over_the_doubled_or_dropped_prefix_is_refused() -> None:
    with mounted(twilio_config(publicUrl=f"{ORIGIN}/tel")) as client:
        for wrong in (f"{ORIGIN}/tel/tel/voice/webhook", f"{ORIGIN}/voice/webhook"):
            headers = {"X-Twilio-Signature": sign(wrong, incoming_call())}
            assert client.post("/tel/voice/webhook", data=incoming_call(), headers=headers).status_code == 403
        assert client.get("/tel/api/calls").json() == []


def test_mount_path_makes_urls_outside_a_request_right(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="telephony")
    with mounted(twilio_config(), mount_path="/tel") as client:
        _converse(client)
    assert f"webhook (a call comes in): {WEBHOOK}\n" in caplog.text
    assert "neither publicUrl nor mount_path" not in caplog.text


def test_an_undeclared_mount_works_in_requests_and_is_reported_once(caplog: pytest.LogCaptureFixture) -> None:
    with mounted(twilio_config()) as client:
        _converse(client)
        _converse(client)
    warnings = [r for r in caplog.records if "neither publicUrl nor mount_path" in r.getMessage()]
    assert len(warnings) == 1 and "mount_path='/tel'" in warnings[0].getMessage()


def test_without_serving_the_mounted_app_refuses_clearly(caplog: pytest.LogCaptureFixture) -> None:
    config = twilio_config(streaming=True)
    app = telephony.create_app(config, runtime=Runtime.build(config, store=MemoryCallStore()))
    with TestClient(from_client(starlette_host(app, lifespan=False), "127.0.0.1")) as client:
        response = _post(client, WEBHOOK, incoming_call())
        control = client.get("/tel/api/calls")
        with (
            pytest.raises(WebSocketDisconnect) as refused,
            client.websocket_connect("/tel/voice/stream") as ws,
        ):
            ws.receive_text()
    assert response.status_code == 503 and "telephony.serving(app)" in response.text
    assert control.status_code == 503 and "telephony.serving(app)" in control.json()["error"]
    assert refused.value.code == 1013
    assert (
        sum("telephony.serving(app)" in r.getMessage() for r in caplog.records if r.levelname == "ERROR") == 3
    )


async def test_serving_runs_once_and_closes_on_exit() -> None:
    config = twilio_config()
    runtime = Runtime.build(config, store=MemoryCallStore())
    app = telephony.create_app(config, runtime=runtime)
    async with telephony.serving(app) as running:
        assert running is runtime and runtime.state == "running"
        with pytest.raises(RuntimeError, match="runs once"):
            async with telephony.serving(runtime):
                pass
    assert runtime.state == "closed"
    with pytest.raises(RuntimeError, match="closed"):
        async with telephony.serving(app):
            pass


def test_a_remote_client_without_token_is_refused_under_the_mount(twilio_api: respx.MockRouter) -> None:
    config = twilio_config(serve={"bind": "0.0.0.0"})
    with mounted(config, peer="198.51.100.7") as client:
        placed = client.post("/tel/api/calls", json={"to": CALLEE, "message": "x", "mode": "notify"})
        assert _post(client, WEBHOOK, incoming_call()).status_code == 200, "carriers are not control clients"
    assert placed.status_code == 403 and "controlToken" in placed.text
    assert not twilio_api.calls


def test_the_starlette_host_runs_the_local_carrier_too() -> None:
    # The local carrier signs the URL it posts to, as Twilio does; the check below uses its scheme.
    from telephony.adapters.local import signed_headers

    config = twilio_config(provider="local", carriers={"local": {"secret": "s3cret"}})
    url = WEBHOOK
    body = (
        f'{{"event": "started", "call": "LC1", "direction": "inbound", '
        f'"caller": "{CALLEE}", "callee": "{OUR_NUMBER}"}}'
    ).encode()
    with mounted(config) as client:
        answered = client.post(
            "/tel/voice/webhook", content=body, headers=signed_headers("s3cret", url, body)
        )
    assert answered.status_code == 200, answered.text
    [gather] = [a for a in answered.json()["actions"] if a["action"] == "gather"]
    assert gather["action_url"].startswith(f"{WEBHOOK}?callId=")


@pytest.mark.parametrize(
    ("public_url", "options"),
    [("{origin}", {"mount_path": "/tel"}), ("{origin}/tel/voice/webhook", {})],
    ids=["mount_path", "in-publicUrl"],
)
async def test_local_carrier_calls_through_a_starlette_mount_on_a_real_socket(
    public_url: str, options: dict[str, str]
) -> None:
    port = free_port()
    origin = f"http://127.0.0.1:{port}"
    config = config_from_mapping(
        {
            "provider": "local",
            "publicUrl": public_url.format(origin=origin),
            "fromNumber": OUR_NUMBER,
            "inboundPolicy": "open",
            "maxConcurrentCalls": 2,
            "agent": "builtin",
            "carriers": {"local": {"secret": "s3cret", "script": ["Yes, go on.", "Thanks, goodbye."]}},
        },
        env={},
    )
    runtime = Runtime.build(config, store=MemoryCallStore(), **options)
    carrier: Any = runtime.carrier
    assert carrier.simulator.webhook_url == f"{origin}/tel/voice/webhook", (
        "the carrier's context has the mount"
    )
    host = starlette_host(telephony.create_app(config, runtime=runtime))
    async with background_server(host, port=port):  # type: ignore[arg-type]  # any ASGI app
        inbound = await carrier.simulator.inbound_call(caller=CALLEE, callee=OUR_NUMBER, script=["Goodbye."])
        placed = await runtime.engine.place_call(to=CALLEE, message="Hi, a minute?", mode="conversation")
        for _ in range(200):
            outbound = await runtime.store.get(placed.call_id)
            if outbound is not None and outbound.ended_at is not None:
                break
            await asyncio.sleep(0.05)
    assert inbound.ended_by == "bot" and [t.speaker for t in inbound.turns][:2] == ["bot", "caller"]
    assert outbound is not None and outbound.state == "hangup-bot"
    assert [t.text for t in outbound.transcript if t.speaker == "user"] == ["Yes, go on.", "Thanks, goodbye."]
    assert runtime.state == "closed"
