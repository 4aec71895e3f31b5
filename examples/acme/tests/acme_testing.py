"""Acme's side of the wire for the tests: event envelopes and their signatures."""

from __future__ import annotations

import json
import time
from typing import Any

import httpx
from telephony.providers import CarrierContext, WebhookRequest

from telephony_acme import sign

SECRET = "whsec_test"
URL = "https://voice.example.com/voice/webhook"
API = "https://api.acme.example/v1"
CONTEXT = CarrierContext(public_url="https://voice.example.com", webhook_url=URL)
SETTINGS = {"apiKey": "k", "webhookSecret": SECRET}


def hook(type_: str, *, state: str | None = None, event_id: str = "ev1", **data: Any) -> bytes:
    """An Acme event envelope about call ``ac_1``."""
    call = {"id": "ac_1", "direction": "inbound", "from": "+14155550100", "to": "+15005550006"}
    if state:
        call["client_state"] = state
    return json.dumps({"id": event_id, "type": type_, "call": call, "data": data}).encode()


def signed(body: bytes, *, secret: str = SECRET, at: float | None = None) -> WebhookRequest:
    """``body`` as Acme delivers it: with ``Acme-Signature`` over the timestamp and body."""
    timestamp = int(time.time() if at is None else at)
    header = f"t={timestamp},v1={sign(secret, timestamp, body)}"
    return WebhookRequest(method="POST", url=URL, headers={"acme-signature": header}, body=body)


def sent(request: httpx.Request) -> tuple[str, dict[str, Any]]:
    """A command request as (command name, JSON body)."""
    return request.url.path.rsplit("/", 1)[1], json.loads(request.content)
