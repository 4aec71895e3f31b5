"""Telnyx webhook signatures: Ed25519 over ``"{telnyx-timestamp}|{raw body}"``.

The account's public key comes from the portal as raw base64; DER (base64) and PEM forms are
accepted too. Timestamps more than five minutes away from our clock, in either direction, are
refused, so a captured request cannot be replayed later.
"""

from __future__ import annotations

import base64
import binascii
from typing import Final

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import load_der_public_key, load_pem_public_key

from telephony.providers import AdapterConfigError, WebhookRejected, parse_decimal, require_header

SIGNATURE_HEADER: Final = "telnyx-signature-ed25519"
TIMESTAMP_HEADER: Final = "telnyx-timestamp"
TOLERANCE_SECONDS: Final = 300
_KEY_PATH: Final = "telnyx.publicKey"


def load_public_key(value: str) -> Ed25519PublicKey:
    """Read the webhook public key in any of its three forms.

    Raises:
        AdapterConfigError: naming ``telnyx.publicKey`` (never echoing it) when the value is
            not an Ed25519 public key.
    """
    text = value.strip()
    try:
        if text.startswith("-----BEGIN"):
            key = load_pem_public_key(text.encode())
        else:
            raw = base64.b64decode(text, validate=True)
            key = Ed25519PublicKey.from_public_bytes(raw) if len(raw) == 32 else load_der_public_key(raw)
    except (ValueError, binascii.Error, TypeError):
        key = None
    if not isinstance(key, Ed25519PublicKey):
        raise AdapterConfigError(
            f"{_KEY_PATH}: not an Ed25519 public key (expected the portal's base64 key, base64 DER or PEM)",
            path=_KEY_PATH,
        )
    return key


def _signature_bytes(header: str) -> bytes:
    """The header's 64 signature bytes; standard base64, or the URL-safe alphabet."""
    text = header.strip()
    for decode in (base64.b64decode, base64.urlsafe_b64decode):
        try:
            raw = decode(text + "=" * (-len(text) % 4))
        except (binascii.Error, ValueError):
            continue
        if len(raw) == 64:
            return raw
    raise WebhookRejected(403, "malformed telnyx-signature-ed25519")


def check(
    key: Ed25519PublicKey, body: bytes, signature: str | None, timestamp: str | None, now: float
) -> None:
    """Raise :class:`WebhookRejected` unless ``signature`` signs ``timestamp|body`` and is fresh.

    A missing header is 401; a malformed, stale or wrong one is 403.
    """
    given = require_header(signature, "telnyx-signature-ed25519")
    stamp = require_header(timestamp, "telnyx-timestamp").strip()
    sent_at = parse_decimal(stamp, max_digits=12)
    if sent_at is None:
        raise WebhookRejected(403, "malformed telnyx-timestamp")
    if abs(now - sent_at) > TOLERANCE_SECONDS:
        raise WebhookRejected(403, "stale telnyx-timestamp (more than 300 s from our clock)")
    try:
        key.verify(_signature_bytes(given), stamp.encode() + b"|" + body)
    except InvalidSignature:
        raise WebhookRejected(403, "invalid telnyx-signature-ed25519") from None
