"""The real app, per carrier: mutated webhooks signed as the carrier signs, unsigned junk, and
junk on the media-stream socket.

The properties: a signed webhook, however malformed, is never answered 5xx; a request without
a valid signature is always answered 4xx; a media socket fed junk is closed with a policy or
size close code, and the server raises nothing.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
import respx
from acme_far_end import ACME_API, ACME_CREDENTIALS
from contract.harness import ListeningSTT, QuickVoice, kit_app
from contract.kits import KITS, LOCAL_SECRET
from hypothesis import assume, event, given
from hypothesis import strategies as st
from litestar.exceptions import WebSocketDisconnect
from litestar.testing import TestClient
from plivo.utils.signature_v3 import construct_get_url, construct_post_url, get_signature_v3
from plivo_helpers import AUTH_TOKEN as PLIVO_AUTH_TOKEN
from telephony_acme import sign as acme_sign
from telnyx_helpers import signed_headers as telnyx_signed_headers
from twilio.request_validator import RequestValidator
from twilio_helpers import AUTH_TOKEN as TWILIO_AUTH_TOKEN

from telephony.adapters.local import signed_headers as local_signed_headers
from telephony.providers import WebhookRequest

from .carriers import CARRIERS
from .test_codecs import frames
from .test_parsers import mutated_webhooks, signature_headers, stamped

CARRIER_APIS = ("api.twilio.com", "api.plivo.com", "api.telnyx.com", urlsplit(ACME_API).hostname)
FORM = "application/x-www-form-urlencoded"
MAX_URL = 8 * 1024
"""Longer request lines are refused by HTTP servers (and the test client) before any app runs."""
POLICY_VIOLATION, TOO_LARGE = 1008, 1009


class _MultiDict(dict[str, list[str]]):
    """Form parameters as the Twilio SDK reads several values of one name (``getlist``)."""

    def getlist(self, name: str) -> list[str]:
        return self[name]


def sign(name: str, request: WebhookRequest) -> dict[str, str]:
    """The headers the carrier ``name`` sends with ``request``, signed with its real scheme.

    Form carriers sign the URL and the parameters, so they sign what the request's body
    parses to; the others sign the raw body.
    """
    url, body = request.url, request.body
    match name:
        case "twilio":
            params = _MultiDict(request.form()) if request.method == "POST" else _MultiDict()
            signature = RequestValidator(TWILIO_AUTH_TOKEN).compute_signature(url, params)
            return {"X-Twilio-Signature": signature, "Content-Type": FORM}
        case "plivo":
            nonce = str(secrets.randbelow(10**20))
            params = {key: list(values) for key, values in request.form().items()}
            construct = construct_post_url if request.method == "POST" else construct_get_url
            try:
                signed = construct(url, params if request.method == "POST" else {}).decode()
            except ValueError:  # the SDK cannot sign this URL, so neither can Plivo: it goes unsigned
                signed = ""
            signature = get_signature_v3(PLIVO_AUTH_TOKEN.encode(), signed, nonce.encode()).decode()
            return {
                "X-Plivo-Signature-V3": signature,
                "X-Plivo-Signature-V3-Nonce": nonce,
                "Content-Type": FORM,
            }
        case "telnyx":
            return telnyx_signed_headers(body)
        case "acme":
            now = int(time.time())
            signature = acme_sign(ACME_CREDENTIALS["webhookSecret"], now, body)
            return {"Acme-Signature": f"t={now},v1={signature}", "Content-Type": "application/json"}
    return local_signed_headers(LOCAL_SECRET, url, body)


@pytest.fixture
def app(
    request: pytest.FixtureRequest, no_network: respx.MockRouter
) -> Iterator[tuple[TestClient[Any], str]]:
    """The real app for the carrier named by the test's ``name``, with streams on and every
    carrier API answering 200 (mutated webhooks name calls no kit mocks)."""
    kit = KITS[request.node.callspec.params["name"]]()
    kit.mock_api(no_network)
    no_network.route(host__in=CARRIER_APIS).mock(
        return_value=httpx.Response(200, json={"data": {"result": "ok"}, "sid": "CA" + "9" * 32})
    )
    config = kit.config(streaming={"enabled": True, "preStartTimeoutMs": 200})
    with kit_app(kit, config, tts=QuickVoice(), stt=ListeningSTT()) as (client, runtime):
        assert runtime.routes.stream_path is not None
        yield client, runtime.routes.stream_path


def _send(client: TestClient[Any], request: WebhookRequest, headers: dict[str, str]) -> httpx.Response:
    parts = urlsplit(request.url)
    path = parts.path + (f"?{parts.query}" if parts.query else "")
    if request.method == "GET":
        return client.get(path, headers=headers)
    return client.post(path, content=request.body, headers=headers)


@pytest.mark.parametrize("name", CARRIERS)
def test_a_signed_mutated_webhook_is_never_answered_5xx(name: str, app: tuple[TestClient[Any], str]) -> None:
    client, _ = app

    @given(request=mutated_webhooks(name))
    def signed(request: WebhookRequest) -> None:
        assume(len(request.url) < MAX_URL)
        response = _send(client, request, sign(name, request))
        event(f"answered {response.status_code}")
        assert response.status_code < 500, response.text

    signed()


@pytest.mark.parametrize("name", CARRIERS)
def test_a_request_without_a_valid_signature_is_answered_4xx(
    name: str, app: tuple[TestClient[Any], str]
) -> None:
    client, _ = app

    @given(
        signed=signature_headers(),
        body=st.binary(max_size=2048),
        method=st.sampled_from(["POST", "GET"]),
        query=st.text(
            st.characters(min_codepoint=0x21, max_codepoint=0x7E, exclude_characters="#"), max_size=40
        ),
    )
    def unsigned(signed: tuple[dict[str, str], str | int], body: bytes, method: str, query: str) -> None:
        headers = {key: value.encode("latin-1") for key, value in stamped(*signed).items()}
        path = "/voice/webhook" + (f"?{query}" if query else "")
        response = client.request(method, path, content=body if method == "POST" else None, headers=headers)
        event(f"answered {response.status_code}")
        assert 400 <= response.status_code < 500, response.text

    unsigned()


@pytest.mark.parametrize("name", [name for name in CARRIERS if name != "local-command"])
def test_a_media_socket_fed_junk_is_closed_and_nothing_is_raised(
    name: str, app: tuple[TestClient[Any], str]
) -> None:
    client, stream_path = app

    @given(
        sent=st.lists(
            st.one_of(frames(name), st.text(max_size=200), st.binary(max_size=200)), min_size=1, max_size=3
        )
    )
    def junk(sent: list[str | bytes]) -> None:
        with client.websocket_connect(stream_path) as socket:
            for frame in sent:
                if isinstance(frame, str):
                    socket.send_text(frame)
                else:
                    socket.send_bytes(frame)
            with pytest.raises(WebSocketDisconnect) as closed:
                socket.receive_text(timeout=5)  # bounded: the server closes within its start timeout
        event(f"closed {closed.value.code}")
        assert closed.value.code in (POLICY_VIOLATION, TOO_LARGE), closed.value

    junk()
