"""Helpers for driving the app as Twilio would: real SDK signatures, real form bodies."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit
from xml.etree import ElementTree

from litestar.testing import TestClient
from litestar.types import ASGIApp, Receive, Scope, Send
from twilio.request_validator import RequestValidator

from telephony.config import Config, config_from_mapping
from telephony.runtime import Runtime
from telephony.server import create_app
from telephony.store import CallStore, MemoryCallStore

AUTH_TOKEN = "test-auth-token-0123456789abcdef"
ACCOUNT_SID = "AC" + "0" * 32
PUBLIC_URL = "https://voice.example.com"
WEBHOOK_URL = PUBLIC_URL + "/voice/webhook"
CALL_SID = "CA" + "1" * 32
CALLER = "+14158675309"
OUR_NUMBER = "+18005551212"


def twilio_config(*, streaming: bool | dict[str, Any] = False, **extra: Any) -> Config:
    data: dict[str, Any] = {
        "provider": "twilio",
        "fromNumber": OUR_NUMBER,
        "publicUrl": PUBLIC_URL,
        "inboundPolicy": "open",
        "twilio": {"accountSid": ACCOUNT_SID, "authToken": AUTH_TOKEN},
        "streaming": streaming if isinstance(streaming, dict) else {"enabled": streaming},
    }
    data.update(extra)
    return config_from_mapping(data, env={})


def _as_addressed(headers: list[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    """The TestClient's made-up ``Host`` (``testserver.local``) as a client on this machine sends it.

    The control API answers only names of its own (DNS rebinding sends foreign ones); a test
    that means another ``Host`` sets it explicitly.
    """
    return [
        (b"host", b"127.0.0.1:3334") if pair == (b"host", b"testserver.local") else pair for pair in headers
    ]


def from_client(app: ASGIApp, host: str) -> ASGIApp:
    """``app`` as reached from the peer address ``host``.

    Litestar's TestClient always reports the peer ``testclient``, which is no address at all;
    the control API decides on the real peer address, so tests say which one they mean.
    """

    async def asgi(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket"):
            scope = {**scope, "client": (host, 50123), "headers": _as_addressed(scope["headers"])}  # type: ignore[assignment]
        await app(scope, receive, send)

    return asgi


@contextmanager
def twilio_app(
    config: Config, *, store: CallStore | None = None, client_host: str = "127.0.0.1", **parts: Any
) -> Iterator[TestClient[Any]]:
    """The app for ``config``, running, reached from ``client_host`` (this machine by default)."""
    runtime = Runtime.build(config, store=store or MemoryCallStore(), **parts)
    with TestClient(from_client(create_app(config, runtime=runtime), client_host)) as client:
        yield client


def sign(url: str, params: dict[str, str], token: str = AUTH_TOKEN) -> str:
    return str(RequestValidator(token).compute_signature(url, params))


def post_signed(client: TestClient[Any], url: str, params: dict[str, str], **kwargs: Any) -> Any:
    """POST ``params`` as Twilio does: form-encoded, signed over the full public URL."""
    parts = urlsplit(url)
    path = parts.path + (f"?{parts.query}" if parts.query else "")
    headers = {"X-Twilio-Signature": sign(url, params), "Content-Type": "application/x-www-form-urlencoded"}
    headers.update(kwargs.pop("headers", {}))
    return client.post(path, content=urlencode(params).encode(), headers=headers, **kwargs)


def incoming_call(call_sid: str = CALL_SID, caller: str = CALLER) -> dict[str, str]:
    return {
        "AccountSid": ACCOUNT_SID,
        "ApiVersion": "2010-04-01",
        "CallSid": call_sid,
        "CallStatus": "ringing",
        "Direction": "inbound",
        "From": caller,
        "To": OUR_NUMBER,
    }


def twiml(text: str) -> ElementTree.Element:
    return ElementTree.fromstring(text)


def store_dir(tmp_path: Path) -> Path:
    return tmp_path / "store"
