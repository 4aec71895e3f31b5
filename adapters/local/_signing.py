"""HMAC-SHA256 webhook signatures with a timestamp, for the simulated carrier."""

from __future__ import annotations

import hashlib
import hmac
import time

from telephony.providers import WebhookRejected, parse_decimal, require_header, signatures_match

SIGNATURE_HEADER = "x-local-signature"
TIMESTAMP_HEADER = "x-local-timestamp"
MAX_SKEW_SECONDS = 300


def sign(secret: str, url: str, body: bytes, timestamp: int) -> str:
    """``v1=`` + hex HMAC-SHA256 over ``timestamp.url.body``: the URL is signed, so is the query."""
    message = f"{timestamp}.{url}.".encode() + body
    return "v1=" + hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def signed_headers(secret: str, url: str, body: bytes, *, now: float | None = None) -> dict[str, str]:
    timestamp = int(time.time() if now is None else now)
    return {
        SIGNATURE_HEADER: sign(secret, url, body, timestamp),
        TIMESTAMP_HEADER: str(timestamp),
        "content-type": "application/json",
    }


def check(
    secret: str, url: str, body: bytes, signature: str | None, timestamp: str | None, now: float
) -> None:
    """Raise :class:`WebhookRejected` unless the signature is valid and fresh."""
    given = require_header(signature, "X-Local-Signature")
    sent_at = parse_decimal(require_header(timestamp, "X-Local-Timestamp"), max_digits=12)
    if sent_at is None:  # int() would take "9" * 400, too large to compare with the clock
        raise WebhookRejected(403, "malformed X-Local-Timestamp")
    if abs(now - sent_at) > MAX_SKEW_SECONDS:
        raise WebhookRejected(403, "stale X-Local-Timestamp")
    if not signatures_match(sign(secret, url, body, sent_at), given):
        raise WebhookRejected(403, "invalid X-Local-Signature")
