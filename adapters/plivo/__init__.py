"""Plivo: a markup carrier (Plivo XML), V3 webhook signatures, audio streams, REST call control."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Final

from telephony.providers import (
    Action,
    Carrier,
    CarrierCapabilities,
    CarrierContext,
    MarkupResponder,
    declare_settings,
    missing_dependency,
)

from ._control import PlivoCallControl
from ._media import PlivoMediaCodec, PlivoMediaSession
from ._settings import PLIVO_SETTINGS, PlivoSettings
from ._signature import V3Signer, load_signer
from ._webhook import PlivoWebhooks
from ._xml import plivo_voice, render_plivo_xml

__all__ = [
    "PLIVO_SETTINGS",
    "PlivoCallControl",
    "PlivoCarrier",
    "PlivoMediaCodec",
    "PlivoMediaSession",
    "PlivoResponder",
    "PlivoSettings",
    "PlivoWebhooks",
    "V3Signer",
    "create_carrier",
    "load_signer",
    "plivo_voice",
    "render_plivo_xml",
]

_XML: Final = "application/xml"


class PlivoResponder(MarkupResponder):
    """Answers webhooks with Plivo XML documents; an empty one ends a call on an XML URL."""

    def __init__(self, default_voice: str | None = None) -> None:
        super().__init__(_render, content_type=_XML, default_voice=default_voice)


def _render(actions: Sequence[Action], voice: str | None) -> str:
    return render_plivo_xml(actions, default_voice=voice)


class PlivoCarrier:
    """The four Plivo contracts bundled under the name ``plivo``.

    Gathers report silence: every ``<GetInput>`` is followed by a ``<Redirect>`` to its own
    action URL, so a turn with nothing heard comes back as ``NoInput``.
    """

    name = "plivo"
    capabilities = CarrierCapabilities(commands=False, reports_silence=True, webhook_timeout_seconds=15.0)

    def __init__(
        self, settings: PlivoSettings, context: CarrierContext, *, signer: V3Signer | None = None
    ) -> None:
        webhooks = PlivoWebhooks(
            settings.auth_token, skip_verification=context.skip_signature_verification, signer=signer
        )
        self.verifier = webhooks
        self.parser = webhooks
        self.responder = PlivoResponder(context.voice)
        self.codec = PlivoMediaCodec()
        self.control = PlivoCallControl(
            auth_id=settings.auth_id, auth_token=settings.auth_token, base_url=settings.base_url
        )


@declare_settings(PLIVO_SETTINGS)
def create_carrier(settings: Mapping[str, Any], context: CarrierContext) -> Carrier:
    """Entry point for ``telephony.carriers``: ``plivo``; typed as the contract so mypy checks it.

    The SDK (extra ``plivo``) is imported here, at start-up, for its signature functions.
    """
    parsed = PLIVO_SETTINGS.parse(settings)
    try:
        signer = load_signer()
    except ModuleNotFoundError as exc:
        if exc.name and exc.name.split(".")[0] == "plivo":
            raise missing_dependency(exc, "plivo") from None
        raise
    return PlivoCarrier(parsed, context, signer=signer)
