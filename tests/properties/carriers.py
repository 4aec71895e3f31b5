"""Every carrier's verifier, parser and media codec, built as the carrier factories build them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import msgspec
from acme_far_end import ACME_CREDENTIALS
from plivo_helpers import AUTH_TOKEN as PLIVO_AUTH_TOKEN
from telephony_acme import AcmeMediaCodec, AcmeWebhooks
from telnyx_helpers import PUBLIC_KEY as TELNYX_PUBLIC_KEY
from twilio_helpers import AUTH_TOKEN as TWILIO_AUTH_TOKEN

from telephony.adapters.local import LocalMediaCodec, LocalWebhooks
from telephony.adapters.plivo import PlivoMediaCodec, PlivoWebhooks
from telephony.adapters.telnyx import TelnyxMediaCodec, TelnyxWebhooks
from telephony.adapters.twilio import TwilioMediaCodec, TwilioWebhooks
from telephony.providers import MediaCodec, WebhookParser, WebhookVerifier

LOCAL_SECRET = "properties-local-secret"


@dataclass(frozen=True)
class Parts:
    """One carrier's webhook verifier and parser (one object for most) and its media codec."""

    verifier: WebhookVerifier
    parser: WebhookParser
    codec: MediaCodec
    media: str
    """The key of the carrier's media frames in :data:`.samples.MEDIA`."""


def _parts(webhooks: Any, codec: MediaCodec, media: str) -> Parts:
    return Parts(verifier=webhooks, parser=webhooks, codec=codec, media=media)


def build(name: str) -> Parts:
    """The parts of the carrier ``name`` (a contract-suite kit name), verification on."""
    match name:
        case "twilio":
            return _parts(TwilioWebhooks(TWILIO_AUTH_TOKEN), TwilioMediaCodec(), "twilio")
        case "telnyx":
            return _parts(TelnyxWebhooks(TELNYX_PUBLIC_KEY), TelnyxMediaCodec(), "telnyx")
        case "plivo":
            return _parts(PlivoWebhooks(PLIVO_AUTH_TOKEN), PlivoMediaCodec(), "plivo")
        case "local-markup" | "local-command":
            return _parts(LocalWebhooks(LOCAL_SECRET), LocalMediaCodec(), "local")
        case "acme":
            return _parts(AcmeWebhooks(ACME_CREDENTIALS["webhookSecret"]), AcmeMediaCodec(), "acme")
    raise ValueError(f"no carrier {name!r}")


CARRIERS = ["twilio", "telnyx", "plivo", "local-markup", "local-command", "acme"]
FORM_CARRIERS = frozenset({"twilio", "plivo"})


def assert_well_typed(value: msgspec.Struct) -> None:
    """``value`` holds what its type declares (structs are not checked when built in code).

    An event with, say, an end reason outside its ``Literal`` would be refused later, by the
    store or the engine, far from the parser that let it through.
    """
    msgspec.convert(msgspec.to_builtins(value), type(value))
