"""Twilio adapter settings (the ``twilio`` config section)."""

from __future__ import annotations

import msgspec


class TwilioSettings(msgspec.Struct, kw_only=True, rename="camel", frozen=True):
    """Credentials and API location.

    Attributes:
        account_sid: ``AC…`` account id (env ``TWILIO_ACCOUNT_SID``).
        auth_token: Signs webhooks and authenticates REST calls (env ``TWILIO_AUTH_TOKEN``).
        base_url: API origin for Twilio-compatible backends or a regional edge; defaults to
            ``https://api.twilio.com``.
    """

    account_sid: str | None = None
    auth_token: str | None = None
    base_url: str | None = None
    from_: str | None = msgspec.field(default=None, name="from")
