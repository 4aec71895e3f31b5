"""Telnyx Call Control v2: JSON webhooks signed with Ed25519, REST commands, media streaming.

Telnyx has no markup: every webhook is answered with an empty 200 and the engine's actions
become REST commands on the call, carrying our call identity as ``client_state``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from telephony.providers import (
    Carrier,
    CarrierCapabilities,
    CarrierContext,
    declare_settings,
    missing_dependency,
)

try:
    from ._signature import load_public_key
    from ._webhook import HANGUP_CAUSES, TelnyxWebhooks
except ModuleNotFoundError as exc:  # cryptography comes with the extra
    if exc.name and exc.name.split(".")[0] == "cryptography":
        raise missing_dependency(exc, "telnyx") from None
    raise
from ._api import TelnyxApi
from ._control import TelnyxCallControl
from ._media import TelnyxMediaCodec
from ._responder import TelnyxResponder
from ._settings import TELNYX_SETTINGS, TelnyxSettings

__all__ = [
    "HANGUP_CAUSES",
    "TELNYX_SETTINGS",
    "TelnyxApi",
    "TelnyxCallControl",
    "TelnyxCarrier",
    "TelnyxMediaCodec",
    "TelnyxResponder",
    "TelnyxSettings",
    "TelnyxWebhooks",
    "create_carrier",
    "load_public_key",
]


class TelnyxCarrier:
    """The four Telnyx contracts under the name ``telnyx``.

    Call Control's gathers collect digits only and speech comes from transcription, which
    reports nothing when nothing is said: ``reports_silence=False``, so the engine times the
    caller's turn and re-prompts.
    """

    name = "telnyx"
    capabilities = CarrierCapabilities(commands=True, reports_silence=False)

    def __init__(self, settings: TelnyxSettings, context: CarrierContext) -> None:
        webhooks = TelnyxWebhooks(settings.public_key, skip_verification=context.skip_signature_verification)
        api = TelnyxApi(settings.api_key, base_url=settings.base_url, timeout=settings.timeout_seconds)
        self.verifier = webhooks
        self.parser = webhooks
        self.responder = TelnyxResponder(
            api, voice=settings.voice, transcription_engine=settings.transcription_engine
        )
        self.codec = TelnyxMediaCodec()
        self.control = TelnyxCallControl(api, connection_id=settings.connection_id)


@declare_settings(TELNYX_SETTINGS)
def create_carrier(settings: Mapping[str, Any], context: CarrierContext) -> Carrier:
    """Entry point for ``telephony.carriers``: ``telnyx``; typed as the contract so mypy checks it."""
    return TelnyxCarrier(TELNYX_SETTINGS.parse(settings), context)
