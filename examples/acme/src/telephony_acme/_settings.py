"""The ``acme`` config section and the environment variables that fill it."""

from __future__ import annotations

import msgspec
from telephony.providers import SettingsSchema


class AcmeSettings(msgspec.Struct, kw_only=True, rename="camel", forbid_unknown_fields=True):
    """The ``acme`` config section.

    Attributes:
        api_key: The bearer key for Acme's REST API.
        webhook_secret: The secret Acme signs webhooks with; required unless signature
            verification is switched off for development.
        api_url: The REST API's base URL.
        timeout_seconds: How long one REST request may take.
    """

    api_key: str
    webhook_secret: str | None = None
    api_url: str = "https://api.acme.example/v1"
    timeout_seconds: float = 10.0


ACME_SETTINGS = SettingsSchema(
    "acme", AcmeSettings, env={"apiKey": "ACME_API_KEY", "webhookSecret": "ACME_WEBHOOK_SECRET"}
)
"""What the factory declares to the core: the section's type and its environment variables."""
