"""The control API cannot be driven by a web page: body types, origins, hosts, token guessing.

Each request here is one a browser sends cross-site without asking first (a form, multipart or
``text/plain`` body), or one a DNS-rebound page sends with its own name as ``Host``. None may
place a call, whatever the token setting; the CLI's own requests keep working.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
from conftest import TWILIO_CALLS
from twilio_helpers import twilio_app, twilio_config

from telephony.cli import ControlClient
from telephony.config import config_from_mapping
from telephony.runtime import Runtime
from telephony.server import (
    ControlGuard,
    TokenAttempts,
    TooManyAttempts,
    background_server,
    create_app,
    free_port,
)

CALLEE = "+14155550100"
PLACE = {"to": CALLEE, "message": "Your code is 1234.", "mode": "notify"}
TOKEN = "let-me-in"


def _placed(api: Any) -> int:
    return sum(1 for call in api.calls if call.request.url == f"{TWILIO_CALLS}.json")


# What a page on https://evil.example can send to http://127.0.0.1:3334 without a preflight.
BROWSER_BODIES = {
    "text/plain": {"content": json.dumps(PLACE), "headers": {"Content-Type": "text/plain;charset=UTF-8"}},
    "form": {"data": PLACE},
    "multipart": {"files": {"to": (None, CALLEE)}, "data": {"message": "hi", "mode": "notify"}},
    "no type": {"content": json.dumps(PLACE), "headers": {"Content-Type": ""}},
}


@pytest.mark.parametrize("token", [None, TOKEN])
@pytest.mark.parametrize("shape", list(BROWSER_BODIES))
def test_a_body_a_browser_sends_cross_site_places_no_call(
    twilio_api: Any, shape: str, token: str | None
) -> None:
    auth = {"Authorization": f"Bearer {token}"} if token else {}
    kwargs = dict(BROWSER_BODIES[shape])
    kwargs["headers"] = {**kwargs.get("headers", {}), **auth}
    with twilio_app(twilio_config(controlToken=token)) as client:
        refused = client.post("/api/calls", **kwargs)
        calls = client.get("/api/calls", headers=auth).json()
    assert refused.status_code == 415, refused.text
    assert "application/json" in refused.json()["error"]
    assert _placed(twilio_api) == 0 and calls == []


@pytest.mark.parametrize(
    "headers",
    [
        {"Origin": "https://evil.example"},
        {"Origin": "null"},  # sandboxed frames, data: pages
        {"Origin": "http://127.0.0.1:9999"},  # another server on this machine is another site
        {"Sec-Fetch-Site": "cross-site"},
        {"Sec-Fetch-Site": "same-site"},
        {"Origin": "https://evil.example", "Sec-Fetch-Site": "cross-site", "Sec-Fetch-Mode": "no-cors"},
    ],
)
def test_a_request_from_another_sites_page_is_refused(twilio_api: Any, headers: dict[str, str]) -> None:
    with twilio_app(twilio_config()) as client:
        placed = client.post("/api/calls", json=PLACE, headers=headers)
        listed = client.get("/api/calls", headers=headers)
        ended = client.post("/api/calls/abc/end", headers=headers)  # no body at all, as a fetch() sends
    assert (placed.status_code, listed.status_code, ended.status_code) == (403, 403, 403)
    assert "other sites" in placed.json()["error"]
    assert _placed(twilio_api) == 0


@pytest.mark.parametrize(
    "headers",
    [
        {"Origin": "http://127.0.0.1:3334"},  # a page this server itself served
        {"Origin": "https://voice.example.com"},  # publicUrl's origin, behind a TLS proxy
        {"Sec-Fetch-Site": "same-origin"},
        {"Sec-Fetch-Site": "none"},  # typed into the address bar
        {},  # the CLI, curl, telephony.cli.ControlClient
    ],
)
def test_same_origin_and_non_browser_requests_pass(twilio_api: Any, headers: dict[str, str]) -> None:
    with twilio_app(twilio_config()) as client:
        placed = client.post("/api/calls", json=PLACE, headers=headers)
    assert placed.status_code == 201, placed.text
    assert _placed(twilio_api) == 1


@pytest.mark.parametrize("token", [None, TOKEN])
def test_dns_rebinding_reaches_nothing(twilio_api: Any, token: str | None) -> None:
    # The page's own name resolves to 127.0.0.1; its requests are same-origin to the browser.
    auth = {"Authorization": f"Bearer {token}"} if token else {}
    rebound = {"Host": "evil.example:3334", "Origin": "http://evil.example:3334", **auth}
    with twilio_app(twilio_config(controlToken=token, metrics={"enabled": True})) as client:
        placed = client.post("/api/calls", json=PLACE, headers=rebound)
        listed = client.get("/api/calls", headers={"Host": "evil.example", **auth})
        metrics = client.get("/metrics", headers={"Host": "evil.example", **auth})
        health = client.get("/health", headers={"Host": "evil.example"})
    assert (placed.status_code, listed.status_code, metrics.status_code) == (421, 421, 421)
    assert "serve.allowedHosts" in listed.json()["error"] and "evil.example" in listed.json()["error"]
    assert _placed(twilio_api) == 0
    assert health.status_code == 200  # tells nothing about calls


@pytest.mark.parametrize(
    "host",
    [
        "127.0.0.1:3334",
        "localhost:3334",
        "[::1]:3334",
        "voice.example.com",
        "tel.internal:8080",
        "app.localhost",
    ],
)
def test_hosts_of_this_server_are_answered(twilio_api: Any, host: str) -> None:
    config = twilio_config(serve={"allowedHosts": ["tel.internal"]})
    with twilio_app(config) as client:
        assert client.get("/api/calls", headers={"Host": host}).status_code == 200


def test_a_star_in_allowed_hosts_leaves_the_host_to_the_embedding_app(twilio_api: Any) -> None:
    with twilio_app(twilio_config(serve={"allowedHosts": ["*"]})) as client:
        assert client.get("/api/calls", headers={"Host": "anything.example"}).status_code == 200


async def test_the_client_library_passes_every_check_on_a_real_socket(tmp_path: Path) -> None:
    port = free_port()
    config = config_from_mapping(
        {
            "provider": "local",
            "fromNumber": "+15005550006",
            "serve": {"port": port},
            "store": str(tmp_path / "store"),
            "controlToken": TOKEN,
            "carriers": {"local": {"secret": "s", "script": ["Goodbye."]}},
        },
        env={},
    )

    def drive() -> list[str]:
        control = ControlClient(f"http://127.0.0.1:{port}", TOKEN)
        call = control.place_call(CALLEE, message="Hello", mode="conversation")
        control.status(call["call_id"])
        control.calls()
        return [control.end(call["call_id"])["call_id"], call["call_id"]]

    async with background_server(create_app(config, runtime=Runtime.build(config)), port=port):
        ended, placed = await asyncio.to_thread(drive)
    assert ended == placed


def test_wrong_tokens_are_rate_limited_per_client(twilio_api: Any, caplog: pytest.LogCaptureFixture) -> None:
    with twilio_app(twilio_config(controlToken=TOKEN)) as client:
        wrong = [client.get("/api/calls", headers={"Authorization": f"Bearer guess-{n}"}) for n in range(40)]
        right = client.get("/api/calls", headers={"Authorization": f"Bearer {TOKEN}"})
    statuses = [response.status_code for response in wrong]
    assert statuses[:10] == [401] * 10 and set(statuses[10:]) == {429}
    assert int(wrong[-1].headers["Retry-After"]) > 0
    assert right.status_code == 429, "a right token during the block tells nothing"
    guesses = [r for r in caplog.records if "wrong" in r.getMessage() and "token" in r.getMessage()]
    assert 0 < len(guesses) <= 10, "logged at a bounded rate"
    assert all("guess-" not in r.getMessage() for r in caplog.records), "tokens are never logged"


def test_token_attempts_window_and_memory_bound() -> None:
    now = [0.0]
    attempts = TokenAttempts(limit=3, window_seconds=60, max_clients=100, clock=lambda: now[0])
    for _ in range(3):
        attempts.check("10.0.0.1")
        attempts.failed("10.0.0.1")
    with pytest.raises(Exception, match="try again in 60 s") as refused:
        attempts.check("10.0.0.1")
    assert refused.value.retry_after == 60  # type: ignore[attr-defined]
    attempts.check("10.0.0.2")  # another client is not held back
    now[0] = 45.0
    with pytest.raises(Exception, match="try again in 15 s"):
        attempts.check("10.0.0.1")
    now[0] = 60.0
    attempts.check("10.0.0.1")  # the window is over
    attempts.failed("10.0.0.1")
    attempts.succeeded("10.0.0.1")
    assert len(attempts) == 0
    for n in range(500):
        attempts.failed(f"2001:db8:{n:x}::1")
    assert len(attempts) == 100


def test_one_ipv6_network_is_one_client_whatever_address_it_guesses_from() -> None:
    attempts = TokenAttempts(limit=3, window_seconds=60)
    for n in range(3):
        attempts.failed(f"2001:db8:1:2::{n + 1:x}")  # a /64 holds 2**64 addresses
    with pytest.raises(TooManyAttempts):
        attempts.check("2001:db8:1:2:ffff:ffff:ffff:ffff")
    attempts.check("2001:db8:1:3::1")  # the neighbouring /64 is someone else
    attempts.failed("::ffff:192.0.2.7")
    attempts.failed("192.0.2.7")
    attempts.failed("192.0.2.7")
    with pytest.raises(TooManyAttempts):
        attempts.check("192.0.2.7")  # an IPv4-mapped address is the IPv4 client
    attempts.check("192.0.2.8")


def test_host_names_are_compared_without_port_case_or_brackets() -> None:
    guard = ControlGuard("https://Voice.Example.com/tel", ["Tel.Internal"])
    assert guard.host_allowed("voice.example.COM:443")
    assert guard.host_allowed("tel.internal")
    assert guard.host_allowed("[::1]:3334") and guard.host_allowed("10.1.2.3:80")
    assert not guard.host_allowed("voice.example.com.evil.example")
    assert not guard.host_allowed("")
