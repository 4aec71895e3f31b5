"""The local carrier: a simulated phone network for the demo and tests (httpx's MockTransport, for calls).

It implements the same four contracts as a real carrier, with its own signed webhooks, markup
and media dialect, and a scripted far end (:class:`LocalSimulator`) that talks to the server over
real HTTP and WebSockets.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import Mapping, Sequence
from typing import Any, Literal

import msgspec

from telephony.providers import (
    CallControlError,
    CallRef,
    Carrier,
    CarrierCapabilities,
    CarrierContext,
    DialCallbacks,
    PlacedCall,
    SettingsSchema,
    declare_settings,
)

from ._carrier import LocalMediaCodec, LocalResponder, LocalWebhooks
from ._signing import sign, signed_headers
from ._simulator import CallerVoice, LocalSimulator, SimulatedCall, SimulatedTurn

__all__ = [
    "CallerVoice",
    "LocalCallControl",
    "LocalCarrier",
    "LocalMediaCodec",
    "LOCAL_SETTINGS",
    "LocalSettings",
    "LocalSimulator",
    "LocalWebhooks",
    "SimulatedCall",
    "SimulatedTurn",
    "create_carrier",
    "sign",
    "signed_headers",
]

_log = logging.getLogger("telephony.local")


class LocalSettings(msgspec.Struct, kw_only=True, rename="camel", forbid_unknown_fields=True):
    """The ``local`` config section.

    Attributes:
        secret: Webhook signing secret shared with the simulator; random per process if unset.
        script: What a simulated callee says on outbound calls, line by line.
        webhook_url: Where the simulator posts; defaults to the server's own webhook URL.
        mode: ``markup`` answers webhooks with the actions; ``command`` answers them empty and
            sends the actions as commands, as a command carrier (Telnyx) does.
        reports_silence: False simulates a carrier whose gathers report nothing when nothing
            is heard; the engine's own listening timer must then re-prompt.
    """

    secret: str | None = None
    mode: Literal["markup", "command"] = "markup"
    reports_silence: bool = True
    script: list[str] = msgspec.field(default_factory=lambda: ["Yes, this is fine.", "Goodbye."])
    webhook_url: str | None = None


LOCAL_SETTINGS: SettingsSchema[LocalSettings] = SettingsSchema("local", LocalSettings)
"""What ``create_carrier`` declares to the core: nothing is required, no environment variables."""


class LocalCallControl:
    """Outbound calls are answered by a simulated callee running in this process."""

    def __init__(self, simulator: LocalSimulator, script: Sequence[str]) -> None:
        self.simulator = simulator
        self.script = list(script)
        self.hung_up: set[str] = set()
        self.redirects: list[str] = []
        self._tasks: set[asyncio.Task[Any]] = set()

    async def place_call(self, call: CallRef, callbacks: DialCallbacks) -> PlacedCall:
        """Ring a simulated callee in this process; it answers and follows the script."""
        provider_call_id = "LC" + secrets.token_hex(16)
        task = asyncio.create_task(
            self.simulator.answer_outbound(
                provider_call_id=provider_call_id,
                answer_url=callbacks.answer_url,
                status_url=callbacks.status_url,
                to=call.to_number or "",
                from_=call.from_number or "",
                script=self.script,
                state=callbacks.identity.client_state() if self.simulator.commands else None,
            )
        )
        self._tasks.add(task)
        task.add_done_callback(self._finished)
        return PlacedCall(provider_call_id=provider_call_id, status="queued")

    def _finished(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            _log.warning("simulated callee failed: %r", task.exception())

    async def redirect(self, call: CallRef, url: str) -> None:
        """Have the simulated far end fetch the call's new instructions from ``url``.

        As a real carrier does, the request is accepted at once and the fetch follows: the
        engine redirects a call while it holds the call's lock, which the fetch's webhook needs.
        """
        if not call.provider_call_id or call.provider_call_id in self.hung_up:
            raise CallControlError(f"call {call.call_id} is not live on the local carrier")
        self.redirects.append(url)
        task = asyncio.create_task(self.simulator.fetch(call.provider_call_id, url))
        self._tasks.add(task)
        task.add_done_callback(self._finished)

    async def hangup(self, call: CallRef) -> None:
        """Note the hang-up; idempotent, as on a real carrier."""
        if call.provider_call_id:
            self.hung_up.add(call.provider_call_id)

    async def aclose(self) -> None:
        """Stop simulated callees still running."""
        for task in list(self._tasks):
            task.cancel()


class LocalCarrier:
    """The four contracts of the simulated carrier, under the name ``local``."""

    name = "local"

    def __init__(self, settings: LocalSettings, context: CarrierContext) -> None:
        self.secret = settings.secret or secrets.token_urlsafe(24)
        webhooks = LocalWebhooks(self.secret, skip_verification=context.skip_signature_verification)
        commands = settings.mode == "command"
        self.capabilities = CarrierCapabilities(commands=commands, reports_silence=settings.reports_silence)
        self.verifier = webhooks
        self.parser = webhooks
        self.codec = LocalMediaCodec()
        self.simulator = LocalSimulator(
            secret=self.secret,
            webhook_url=settings.webhook_url or context.webhook_url,
            commands=commands,
            reports_silence=settings.reports_silence,
        )
        self.responder = LocalResponder(self.simulator.command if commands else None)
        self.control = LocalCallControl(self.simulator, settings.script)


@declare_settings(LOCAL_SETTINGS)
def create_carrier(settings: Mapping[str, Any], context: CarrierContext) -> Carrier:
    """Entry point for ``telephony.carriers``: ``local``; typed as the contract so mypy checks it."""
    return LocalCarrier(LOCAL_SETTINGS.parse(settings), context)
