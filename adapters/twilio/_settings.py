"""Twilio adapter settings: the ``twilio`` config section and the variables that fill it."""

from __future__ import annotations

from typing import Annotated

import msgspec

from telephony.providers import HttpUrl, SettingsSchema

_Credential = Annotated[str, msgspec.Meta(min_length=1)]


class TwilioSettings(msgspec.Struct, kw_only=True, rename="camel", frozen=True, forbid_unknown_fields=True):
    """Credentials and API location.

    Both credentials are required, even with signature checks skipped: hanging up, the
    max-duration limit and outbound calls all go through the REST API, and a server that
    learns it cannot use it on the first call has already failed a caller.

    Attributes:
        account_sid: ``AC…`` account id (env ``TWILIO_ACCOUNT_SID``).
        auth_token: Signs webhooks and authenticates REST calls (env ``TWILIO_AUTH_TOKEN``).
        base_url: API origin for Twilio-compatible backends or a regional edge; defaults to
            ``https://api.twilio.com``.
        from_: Legacy openclaw caller number (key ``from``), accepted and unused; the caller id
            is the core's ``fromNumber``.
    """

    account_sid: _Credential
    auth_token: _Credential
    base_url: HttpUrl | None = None
    from_: str | None = msgspec.field(default=None, name="from")

    def __repr__(self) -> str:
        """Everything but the auth token, so settings can be logged safely."""
        return f"TwilioSettings(account_sid={self.account_sid!r}, base_url={self.base_url!r})"


TWILIO_SETTINGS: SettingsSchema[TwilioSettings] = SettingsSchema(
    "twilio",
    TwilioSettings,
    env={"accountSid": "TWILIO_ACCOUNT_SID", "authToken": "TWILIO_AUTH_TOKEN"},
)
"""What ``create_carrier`` declares to the core (openclaw's variable names)."""
