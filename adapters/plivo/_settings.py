"""Plivo adapter settings: the ``plivo`` config section and the variables that fill it."""

from __future__ import annotations

from typing import Annotated

import msgspec

from telephony.providers import HttpUrl, SettingsSchema

# A main account id starts with MA, a subaccount's with SA; both are 20 characters (the SDK
# checks the same), so a mistyped id fails at start instead of on the first call.
_AuthId = Annotated[str, msgspec.Meta(pattern=r"^[MS]A[A-Z0-9]{18}$")]
_Credential = Annotated[str, msgspec.Meta(min_length=1)]


class PlivoSettings(msgspec.Struct, kw_only=True, rename="camel", frozen=True, forbid_unknown_fields=True):
    """Credentials and API location.

    Both credentials are required, even with signature checks skipped: hanging up, outbound
    calls and redirects of a live call all go through the REST API.

    Attributes:
        auth_id: ``MA…`` or ``SA…`` account id (env ``PLIVO_AUTH_ID``).
        auth_token: Signs webhooks (V3) and authenticates REST calls (env ``PLIVO_AUTH_TOKEN``).
        base_url: Replaces the scheme and host of every REST request (a Plivo-compatible
            backend or a test double); defaults to ``https://api.plivo.com``.
    """

    auth_id: _AuthId
    auth_token: _Credential
    base_url: HttpUrl | None = None

    def __repr__(self) -> str:
        """Everything but the auth token, so settings can be logged safely."""
        return f"PlivoSettings(auth_id={self.auth_id!r}, base_url={self.base_url!r})"


PLIVO_SETTINGS: SettingsSchema[PlivoSettings] = SettingsSchema(
    "plivo",
    PlivoSettings,
    env={"authId": "PLIVO_AUTH_ID", "authToken": "PLIVO_AUTH_TOKEN"},
)
"""What ``create_carrier`` declares to the core."""
