"""Helpers for driving the app as Plivo would: the SDK's own V3 signatures, real form bodies."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import urlencode, urlsplit

from litestar.testing import TestClient
from plivo.utils.signature_v3 import construct_get_url, construct_post_url, get_signature_v3
from twilio_helpers import from_client

from telephony.config import Config, config_from_mapping
from telephony.runtime import Runtime
from telephony.server import create_app
from telephony.store import CallStore, MemoryCallStore

AUTH_ID = "MA" + "A1B2C3D4E5F6G7H8I9"[:18]
AUTH_TOKEN = "plivo-test-auth-token-0123456789"
PUBLIC_URL = "https://voice.example.com"
WEBHOOK_URL = PUBLIC_URL + "/voice/webhook"
CALL_UUID = "eba53b9e-8fbd-45c1-9444-696d2172fbc8"
CALLER = "14158675309"
OUR_NUMBER = "18005551212"
CALLS = f"https://api.plivo.com/v1/Account/{AUTH_ID}/Call/"


def sign(method: str, url: str, params: dict[str, str], nonce: str, token: str = AUTH_TOKEN) -> str:
    """``X-Plivo-Signature-V3`` computed with the plivo SDK's own functions."""
    if method == "GET":
        signed = construct_get_url(url, dict(params))
    else:
        signed = construct_post_url(url, dict(params))
    return str(get_signature_v3(token.encode(), signed.decode(), nonce.encode()).decode())


def signed_headers(url: str, params: dict[str, str], token: str = AUTH_TOKEN) -> dict[str, str]:
    """The headers of a signed form POST to ``url``."""
    nonce = str(secrets.randbelow(10**20))
    return {
        "X-Plivo-Signature-V3": sign("POST", url, params, nonce, token),
        "X-Plivo-Signature-V3-Nonce": nonce,
        "Content-Type": "application/x-www-form-urlencoded",
    }


def post_signed(client: TestClient[Any], url: str, params: dict[str, str], **kwargs: Any) -> Any:
    """POST ``params`` as Plivo does: form-encoded, V3-signed over the full public URL."""
    parts = urlsplit(url)
    path = parts.path + (f"?{parts.query}" if parts.query else "")
    headers = signed_headers(url, params) | kwargs.pop("headers", {})
    return client.post(path, content=urlencode(params).encode(), headers=headers, **kwargs)


def plivo_config(*, streaming: bool = False, **extra: Any) -> Config:
    data: dict[str, Any] = {
        "provider": "plivo",
        "fromNumber": "+" + OUR_NUMBER,
        "publicUrl": PUBLIC_URL,
        "inboundPolicy": "open",
        "plivo": {"authId": AUTH_ID, "authToken": AUTH_TOKEN},
        "streaming": {"enabled": streaming},
    }
    data.update(extra)
    return config_from_mapping(data, env={})


def start_app(call_uuid: str = CALL_UUID, **extra: str) -> dict[str, str]:
    """The answer URL request of an inbound call."""
    return {
        "CallUUID": call_uuid,
        "CallStatus": "ringing",
        "Direction": "inbound",
        "Event": "StartApp",
        "From": CALLER,
        "To": OUR_NUMBER,
        "SessionStart": "2026-01-15 10:29:58.000000",
    } | extra


@contextmanager
def plivo_app(config: Config, *, store: CallStore | None = None, **parts: Any) -> Iterator[TestClient[Any]]:
    """The app for ``config``, running, reached from this machine."""
    runtime = Runtime.build(config, store=store or MemoryCallStore(), **parts)
    with TestClient(from_client(create_app(config, runtime=runtime), "127.0.0.1")) as client:
        yield client
