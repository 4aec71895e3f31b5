"""Webhooks while the call store is away: the caller is told to hold on, the turn is served later.

Without the store no turn can be run (the call's record, its lock, the webhook's claim all live
there), but an error answer ends a carrier's call ("an application error has occurred"). So a
webhook the store fails is answered at once in the carrier's own terms, and its event is kept
until the store is back:

- A markup carrier gets the holding line and a redirect back to us (later attempts, a pause
  instead of the line). The redirect's URL carries the event itself, the caller's words
  included, since a carrier does not send them again on a redirect; the carrier signs the URL it
  fetches, so what comes back is as authentic as the original. The fetch runs the original
  event through the usual claims, so it is served exactly once, with its own event id.
- A command carrier is sent the holding line as a command (but an inbound call that was not
  answered yet just keeps ringing: speaking needs an answered call), and this process tries the
  event again, with growing pauses, until the store answers; the real answer's commands then go
  out as usual.
- An event that expects no instructions (a status callback) is kept and tried again the same way.
"""

from __future__ import annotations

import base64
import binascii
import logging
import zlib
from typing import TYPE_CHECKING, Final

import anyio
import msgspec

from telephony.providers import (
    Action,
    CallEvent,
    CallRef,
    CallStarted,
    Pause,
    Redirect,
    ReplyContext,
    TelephonyError,
    WebhookRejected,
    WebhookReply,
    WebhookRequest,
    parse_decimal,
)

from ..lines import HOLDING_LINE
from ..store import StoreUnavailable

if TYPE_CHECKING:
    from ..engine import ConversationEngine
    from ._claims import WebhookClaims

__all__ = ["HELD_EVENT", "StoreOutage", "held_event"]

_log = logging.getLogger("telephony.server")

HELD_EVENT: Final = "held"
"""The query parameter of a hold-on redirect that carries the held event."""

ATTEMPT: Final = "attempt"
"""The query parameter that numbers a held event's redirects (so no two fetches look alike)."""

MAX_HELD_EVENT_CHARS: Final = 3000
"""The longest encoded event a redirect carries; carriers cap URL lengths (an utterance fits)."""

PAUSE_SECONDS: Final = 2
"""The quiet between two attempts of a held markup turn, after the holding line was said."""

SAY_AGAIN_EVERY: Final = 5
"""Every this many attempts the caller hears the holding line again, not only quiet."""

RETRY_DELAYS: Final = (0.5, 1.0, 2.0, 3.0, 5.0)
"""Pauses before each attempt of an event kept in this process; the last repeats."""

KEEP_FOR_SECONDS: Final = 600.0
"""How long an event kept in this process is tried again before it is given up (and logged)."""

MAX_KEPT: Final = 1000
"""Events kept in this process at once; beyond it a webhook is answered 503 (memory stays bounded)."""

_ENCODER: Final = msgspec.json.Encoder()
_DECODER: Final = msgspec.json.Decoder(CallEvent)


def encode_event(event: CallEvent) -> str:
    """``event`` as a short URL-safe string (compressed JSON, base64 without padding)."""
    return base64.urlsafe_b64encode(zlib.compress(_ENCODER.encode(event), 9)).rstrip(b"=").decode()


def decode_event(value: str) -> CallEvent | None:
    """Read what :func:`encode_event` wrote; None for anything else."""
    try:
        raw = zlib.decompress(base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)))
        return _DECODER.decode(raw)
    except (binascii.Error, ValueError, zlib.error, msgspec.DecodeError):
        return None


def held_event(request: WebhookRequest, parsed: CallEvent) -> tuple[CallEvent, int]:
    """The event a webhook stands for, and how many hold-on answers it has had.

    A carrier's fetch of a hold-on redirect stands for the held event it carries; any other
    webhook stands for itself (attempt 0).

    Raises:
        WebhookRejected: The redirect's event is malformed or names another carrier call.
    """
    value = request.query.get(HELD_EVENT)
    if value is None:
        return parsed, 0
    held = decode_event(value)
    if held is None or held.provider_call_id != parsed.provider_call_id:
        raise WebhookRejected(400, "a held turn's redirect that names no turn of this call")
    return held, parse_decimal(request.query.get(ATTEMPT), max_digits=6) or 1


class StoreOutage:
    """Answers the webhooks the store failed, and keeps their events until it is back.

    Args:
        engine: Runs the kept events again (and knows the carrier and the routes).
        claims: What every attempt goes through, so each event is still handled once.
    """

    def __init__(self, engine: ConversationEngine, claims: WebhookClaims) -> None:
        self.engine = engine
        self.claims = claims
        self._kept: set[str] = set()

    async def hold_on(self, event: CallEvent, attempt: int) -> WebhookReply:
        """The answer to a webhook whose event the store failed (see the module docstring).

        Raises:
            StoreUnavailable: The event cannot be kept (too many are, or it is too long to carry
                in a URL); the webhook is then answered 503.
        """
        carrier = self.engine.carrier
        if carrier.capabilities.commands or not event.expects_reply:
            await self._keep(event)
            return carrier.responder.acknowledge()
        url = self._retry_url(event, attempt + 1)
        first: Action = (
            self.engine.say(HOLDING_LINE) if attempt % SAY_AGAIN_EVERY == 0 else Pause(seconds=PAUSE_SECONDS)
        )
        context = ReplyContext(call=_ref(event), event=event)
        return await carrier.responder.respond(context, [first, Redirect(url=url)])

    def _retry_url(self, event: CallEvent, attempt: int) -> str:
        held = encode_event(event)
        if len(held) > MAX_HELD_EVENT_CHARS:
            raise StoreUnavailable("the call store is unreachable and this turn is too long to hold")
        url = self.engine.routes.webhook_url(kind="pending", call_id=event.call_id)
        return f"{url}&{HELD_EVENT}={held}&{ATTEMPT}={attempt}"

    async def _keep(self, event: CallEvent) -> None:
        if event.event_id in self._kept:
            return  # a carrier's retry of an event this process keeps already
        if len(self._kept) >= MAX_KEPT:
            raise StoreUnavailable("the call store is unreachable and too many events are waiting for it")
        self._kept.add(event.event_id)
        self.engine.spawn(self._retry(event))
        commands = self.engine.carrier.capabilities.commands
        ringing = isinstance(event, CallStarted) and event.direction == "inbound"
        if commands and event.expects_reply and not ringing:
            await self._say_holding_line(event)

    async def _say_holding_line(self, event: CallEvent) -> None:
        """Tell a command carrier's caller to hold on (no event: no command ids the real answer reuses)."""
        try:
            line = self.engine.say(HOLDING_LINE)
            await self.engine.carrier.responder.respond(ReplyContext(call=_ref(event)), [line])
        except TelephonyError as exc:
            _log.info("call %s: the holding line could not be sent (%s)", event.call_id, exc)

    async def _retry(self, event: CallEvent) -> None:
        """Try ``event`` again until the store answers, for at most :data:`KEEP_FOR_SECONDS`."""
        try:
            give_up = anyio.current_time() + KEEP_FOR_SECONDS
            attempt = 0
            while True:
                await anyio.sleep(RETRY_DELAYS[min(attempt, len(RETRY_DELAYS) - 1)])
                attempt += 1
                try:
                    await self.claims.handle(event, lambda: self.engine.answer(event))
                except StoreUnavailable:
                    if anyio.current_time() < give_up:
                        continue
                    _log.warning(
                        "%s for call %s given up: the call store stayed unreachable for %.0f s",
                        type(event).__name__,
                        event.call_id or event.provider_call_id,
                        KEEP_FOR_SECONDS,
                    )
                    return
                _log.info("%s kept while the call store was away: served", type(event).__name__)
                return
        finally:
            self._kept.discard(event.event_id)


def _ref(event: CallEvent) -> CallRef:
    """The call as an event names it, when its record cannot be read."""
    return CallRef(call_id=event.call_id or "", provider_call_id=event.provider_call_id)
