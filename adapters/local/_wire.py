"""The local carrier's wire formats: JSON webhooks, JSON "markup" and a JSON media dialect.

Deliberately unlike Twilio's, so code that only works for one dialect shows up in tests.
"""

from __future__ import annotations

import msgspec

from telephony.providers import Action


class WebhookBody(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """One webhook: ``event`` is started, ringing, answered, input, no_input, played, fetch or ended.

    ``state`` is the client state a command-mode call echoes back (our call identity).
    """

    event: str
    call: str
    direction: str | None = None
    caller: str | None = None
    callee: str | None = None
    speech: str | None = None
    digits: str | None = None
    confidence: float | None = None
    final: bool = True
    machine: bool | None = None
    reason: str | None = None
    state: str | None = None


class Markup(msgspec.Struct, kw_only=True):
    """The answer to a webhook: the provider-neutral actions, as they are."""

    actions: list[Action]


class Frame(msgspec.Struct, kw_only=True, omit_defaults=True):
    """Any media frame; ``type`` says which fields matter.

    In: hello (call, stream, params), audio (pcmu), key (digit), played (id), bye.
    Out: play (pcmu), marker (id), flush.
    """

    type: str
    call: str | None = None
    stream: str | None = None
    params: dict[str, str] | None = None
    pcmu: str | None = None
    digit: str | None = None
    id: str | None = None


WEBHOOK_DECODER = msgspec.json.Decoder(WebhookBody)
MARKUP_DECODER = msgspec.json.Decoder(Markup)
FRAME_DECODER = msgspec.json.Decoder(Frame)
ENCODER = msgspec.json.Encoder()
