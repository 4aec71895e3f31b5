"""Twilio: the reference carrier adapter (TwiML markup, Media Streams, REST call control)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from telephony.providers import (
    Action,
    Carrier,
    CarrierCapabilities,
    CarrierContext,
    MarkupResponder,
    declare_settings,
    missing_dependency,
)

try:
    from ._control import TwilioCallControl
    from ._media import TwilioMediaCodec
    from ._twiml import render_twiml
    from ._webhook import TwilioWebhooks
except ModuleNotFoundError as exc:  # the SDK comes with the extra
    if exc.name and exc.name.split(".")[0] == "twilio":
        raise missing_dependency(exc, "twilio") from None
    raise
from ._settings import TWILIO_SETTINGS, TwilioSettings
from ._voices import twilio_voice

__all__ = [
    "TwilioCallControl",
    "TwilioCarrier",
    "TwilioMediaCodec",
    "TWILIO_SETTINGS",
    "TwilioResponder",
    "TwilioSettings",
    "TwilioWebhooks",
    "create_carrier",
    "render_twiml",
    "twilio_voice",
]

_TWIML = "application/xml"


class TwilioResponder(MarkupResponder):
    """Answers webhooks with TwiML documents."""

    def __init__(self, default_voice: str | None = None) -> None:
        super().__init__(_render, content_type=_TWIML, default_voice=default_voice)


def _render(actions: Sequence[Action], voice: str | None) -> str:
    return render_twiml(actions, default_voice=voice)


class TwilioCarrier:
    """The four Twilio contracts bundled under the name ``twilio``."""

    name = "twilio"
    capabilities = CarrierCapabilities(commands=False, reports_silence=True, webhook_timeout_seconds=15.0)

    def __init__(self, settings: TwilioSettings, context: CarrierContext) -> None:
        webhooks = TwilioWebhooks(settings.auth_token, skip_verification=context.skip_signature_verification)
        self.verifier = webhooks
        self.parser = webhooks
        self.responder = TwilioResponder(context.voice)
        self.codec = TwilioMediaCodec()
        self.control = TwilioCallControl(
            account_sid=settings.account_sid,
            auth_token=settings.auth_token,
            base_url=settings.base_url,
            default_voice=context.voice,
        )


@declare_settings(TWILIO_SETTINGS)
def create_carrier(settings: Mapping[str, Any], context: CarrierContext) -> Carrier:
    """Entry point for ``telephony.carriers``: ``twilio``; typed as the contract so mypy checks it."""
    return TwilioCarrier(TWILIO_SETTINGS.parse(settings), context)
