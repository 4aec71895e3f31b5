"""Helpers for playing Telnyx in tests: a real Ed25519 key pair, signed JSON event envelopes."""

from __future__ import annotations

import base64
import json
import secrets
import time
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

API_KEY = "KEY0123456789ABCDEF_test"
CONNECTION_ID = "1234567890123456789"
API = "https://api.telnyx.com/v2"

PRIVATE_KEY = Ed25519PrivateKey.generate()
PUBLIC_KEY = base64.b64encode(PRIVATE_KEY.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)).decode()
"""The account's webhook public key as the portal shows it (raw base64)."""


def telnyx_settings(**extra: Any) -> dict[str, Any]:
    return {"apiKey": API_KEY, "connectionId": CONNECTION_ID, "publicKey": PUBLIC_KEY} | extra


def envelope(
    event_type: str, payload: dict[str, Any], *, event_id: str | None = None, attempt: int = 1
) -> bytes:
    """One webhook body as Telnyx sends it: ``{"data": {...}, "meta": {...}}``."""
    data = {
        "record_type": "event",
        "event_type": event_type,
        "id": event_id or secrets.token_hex(8),
        "occurred_at": "2026-11-30T12:00:00.000000Z",
        "payload": payload,
    }
    return json.dumps(
        {"data": data, "meta": {"attempt": attempt, "delivered_to": "https://example.com"}}
    ).encode()


def signed_headers(
    body: bytes, *, now: float | None = None, key: Ed25519PrivateKey = PRIVATE_KEY
) -> dict[str, str]:
    """The two signature headers over ``timestamp|body``, and the JSON content type."""
    timestamp = str(int(time.time() if now is None else now))
    signature = key.sign(timestamp.encode() + b"|" + body)
    return {
        "telnyx-signature-ed25519": base64.b64encode(signature).decode(),
        "telnyx-timestamp": timestamp,
        "content-type": "application/json",
    }
