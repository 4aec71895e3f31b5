"""Small security helpers shared by adapters, so each does not grow its own variant."""

from __future__ import annotations

import hmac
import logging

from ._errors import WebhookRejected

_log = logging.getLogger("telephony.security")


def require_header(value: str | None, name: str) -> str:
    """Return a signature header's value, or reject the request with 401 when it is absent."""
    if not value:
        raise WebhookRejected(401, f"missing {name} header")
    return value


def signatures_match(expected: str, given: str) -> bool:
    """Constant-time comparison of two signature strings."""
    return hmac.compare_digest(expected.encode(), given.encode())


def warn_verification_skipped(carrier: str) -> None:
    """Log, loudly and every time, that a webhook was accepted without a signature check."""
    _log.warning(
        "SECURITY: %s webhook accepted WITHOUT signature verification "
        "(skipSignatureVerification is on; never use this in production)",
        carrier,
    )
