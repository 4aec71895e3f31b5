"""Telnyx adapter settings: the ``telnyx`` config section and the variables that fill it."""

from __future__ import annotations

from typing import Annotated

import msgspec

from telephony.providers import HttpUrl, SettingsSchema

_Credential = Annotated[str, msgspec.Meta(min_length=1)]


class TelnyxSettings(msgspec.Struct, kw_only=True, rename="camel", frozen=True, forbid_unknown_fields=True):
    """Credentials, the Call Control application and the API location.

    The API key and connection id are required even for inbound-only use: every answer, every
    word spoken and every hang-up is a REST command, and outbound calls dial through the
    connection. The public key is required unless signature checks are skipped (the loud
    development switch); its absence is reported when the carrier is built, at start.

    Attributes:
        api_key: Bearer token for the v2 API (env ``TELNYX_API_KEY``).
        connection_id: The Call Control application's id (env ``TELNYX_CONNECTION_ID``).
        public_key: The account's webhook public key: raw base64 (as the portal shows it),
            base64 DER, or PEM (env ``TELNYX_PUBLIC_KEY``).
        base_url: Replaces the scheme and host of every REST request (a proxy or a
            Telnyx-compatible test server); defaults to ``https://api.telnyx.com``.
        voice: The ``speak`` voice when an action names none Telnyx knows (``female``,
            ``male`` or ``Provider.Model.Voice`` such as ``Telnyx.KokoroTTS.af``).
        transcription_engine: The engine ``transcription_start`` asks for (``Google``,
            ``Telnyx``, ``Deepgram``...).
        timeout_seconds: Per REST request.
    """

    api_key: _Credential
    connection_id: _Credential
    public_key: str | None = None
    base_url: HttpUrl | None = None
    voice: str = "female"
    transcription_engine: str = "Google"
    timeout_seconds: Annotated[float, msgspec.Meta(gt=0, le=60)] = 10.0

    def __repr__(self) -> str:
        """Everything but the API key, so settings can be logged safely."""
        return (
            f"TelnyxSettings(connection_id={self.connection_id!r}, base_url={self.base_url!r}, "
            f"public_key={'set' if self.public_key else None!r})"
        )


TELNYX_SETTINGS: SettingsSchema[TelnyxSettings] = SettingsSchema(
    "telnyx",
    TelnyxSettings,
    env={
        "apiKey": "TELNYX_API_KEY",
        "connectionId": "TELNYX_CONNECTION_ID",
        "publicKey": "TELNYX_PUBLIC_KEY",
    },
)
"""What ``create_carrier`` declares to the core (openclaw's variable names)."""
