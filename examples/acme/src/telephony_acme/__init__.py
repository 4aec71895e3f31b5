"""Carrier adapter for Acme Voice, a fictional command carrier.

Acme works the way Telnyx Call Control does: JSON webhooks signed with HMAC-SHA256, every action
a REST command, our call identity echoed back as client state. The package imports nothing of
the framework but ``telephony.providers``, and registers itself in the ``telephony.carriers``
entry-point group as ``acme``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from telephony.providers import Carrier, CarrierCapabilities, CarrierContext, declare_settings

from ._api import AcmeApi
from ._control import AcmeCallControl
from ._media import AcmeMediaCodec
from ._responder import AcmeResponder
from ._settings import ACME_SETTINGS, AcmeSettings
from ._webhooks import SIGNATURE_HEADER, TOLERANCE_SECONDS, AcmeWebhooks, sign

__all__ = [
    "ACME_SETTINGS",
    "SIGNATURE_HEADER",
    "TOLERANCE_SECONDS",
    "AcmeApi",
    "AcmeCallControl",
    "AcmeCarrier",
    "AcmeMediaCodec",
    "AcmeResponder",
    "AcmeSettings",
    "AcmeWebhooks",
    "create_carrier",
    "sign",
]


class AcmeCarrier:
    """The four Acme contracts under the name ``acme``.

    Acme takes commands, and its gathers end with ``"status": "timeout"`` when nothing is heard.

    Args:
        settings: The parsed ``acme`` section.
        context: What the framework says about the server (public URL, default voice, the
            development switch).
    """

    name = "acme"
    capabilities = CarrierCapabilities(commands=True, reports_silence=True)

    def __init__(self, settings: AcmeSettings, context: CarrierContext) -> None:
        webhooks = AcmeWebhooks(
            settings.webhook_secret, skip_verification=context.skip_signature_verification
        )
        api = AcmeApi(settings)
        self.verifier = webhooks
        self.parser = webhooks
        self.responder = AcmeResponder(api, default_voice=context.voice)
        self.codec = AcmeMediaCodec()
        self.control = AcmeCallControl(api)


@declare_settings(ACME_SETTINGS)
def create_carrier(settings: Mapping[str, Any], context: CarrierContext) -> Carrier:
    """Entry point ``telephony.carriers: acme``; typed as the contract so mypy checks it."""
    return AcmeCarrier(ACME_SETTINGS.parse(settings), context)
