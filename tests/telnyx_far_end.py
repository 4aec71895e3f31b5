"""Telnyx's side of a call, played against a server on a real socket.

It does what Telnyx Call Control does: signed JSON webhooks (a real Ed25519 key), and a REST
API (mocked with respx) whose commands it carries out in order: ``answer`` reports
``call.answered``; ``speak`` is "heard" and reported with ``call.speak.ended``; while
``transcription_start`` is in force the caller's next line, once the bot has asked something,
comes back as a final ``call.transcription``; ``hangup`` and ``reject`` end the call with
``call.hangup``. Every webhook carries the latest ``client_state`` a command set, as Telnyx's do. Dialing
``POST /v2/calls`` rings this far end, which answers and follows the script.
"""

from __future__ import annotations

import asyncio
import json
import secrets
from typing import Any

import httpx
import respx
from telnyx_helpers import API, envelope, signed_headers

from telephony.adapters.local import SimulatedCall, SimulatedTurn
from telephony.providers import CallIdentity


class _Leg:
    """One call as the far end sees it: its commands, in arrival order, and its client state."""

    def __init__(self, call: SimulatedCall, *, caller: str, callee: str, state: str | None) -> None:
        self.call = call
        self.caller = caller
        self.callee = callee
        self.state = state
        self.commands: asyncio.Queue[tuple[str, dict[str, Any]]] = asyncio.Queue()
        self.transcribing = False


class TelnyxFarEnd:
    """Places and answers calls the way Telnyx would.

    Args:
        webhook_url: The Call Control application's webhook URL (the server's webhook URL).
        script: What a callee says on outbound calls, line by line.
        idle_seconds: How long a caller waits for the server's next command before hanging up.
    """

    def __init__(self, webhook_url: str, script: list[str], *, idle_seconds: float = 10.0) -> None:
        self.webhook_url = webhook_url
        self.script = script
        self.idle_seconds = idle_seconds
        self.calls: dict[str, SimulatedCall] = {}
        self.commands: list[tuple[str, str, dict[str, Any]]] = []
        self._legs: dict[str, _Leg] = {}
        self._tasks: set[asyncio.Task[SimulatedCall]] = set()

    def mock_rest_api(self, router: respx.MockRouter) -> None:
        """Answer Dial and every call command; commands go to the call's queue, in order."""
        router.post(f"{API}/calls").mock(side_effect=self._dial)
        router.post(url__regex=rf"^{API}/calls/(?P<control_id>[^/]+)/actions/(?P<command>\w+)$").mock(
            side_effect=self._command
        )

    def _command(self, request: httpx.Request, control_id: str, command: str) -> httpx.Response:
        body = json.loads(request.content or b"{}")
        self.commands.append((control_id, command, body))
        leg = self._legs.get(control_id)
        if leg is None or leg.call.ended_by != "none":
            return httpx.Response(
                422, json={"errors": [{"code": "90018", "title": "Call has already ended"}]}
            )
        leg.commands.put_nowait((command, body))
        return httpx.Response(200, json={"data": {"result": "ok"}})

    def _dial(self, request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        control_id = "v3:" + secrets.token_urlsafe(24)
        call = self.calls.setdefault(control_id, SimulatedCall(provider_call_id=control_id))
        leg = _Leg(call, caller=body["from"], callee=body["to"], state=body.get("client_state"))
        self._legs[control_id] = leg
        task = asyncio.get_running_loop().create_task(self._answer(leg, body["webhook_url"]))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        data = {"call_control_id": control_id, "call_leg_id": secrets.token_hex(8), "is_alive": False}
        return httpx.Response(200, json={"data": data | {"record_type": "call"}})

    async def _answer(self, leg: _Leg, url: str) -> SimulatedCall:
        async with httpx.AsyncClient(timeout=30) as http:
            await self._event(http, url, leg, "call.initiated", direction="outgoing", state="bridging")
            await self._event(http, url, leg, "call.answered", state="answered")
            await self._converse(http, url, leg, list(self.script))
        return leg.call

    async def inbound_call(self, *, caller: str, callee: str, script: list[str]) -> SimulatedCall:
        """Ring the Call Control application from ``caller`` and say ``script`` line by line."""
        control_id = "v3:" + secrets.token_urlsafe(24)
        call = self.calls.setdefault(control_id, SimulatedCall(provider_call_id=control_id))
        leg = _Leg(call, caller=caller, callee=callee, state=None)
        self._legs[control_id] = leg
        async with httpx.AsyncClient(timeout=30) as http:
            url = self.webhook_url
            await self._event(http, url, leg, "call.initiated", direction="incoming", state="parked")
            await self._converse(http, url, leg, list(script))
        return call

    async def _converse(self, http: httpx.AsyncClient, url: str, leg: _Leg, script: list[str]) -> None:
        """Carry out commands until one ends the call, or hang up when none come."""
        while True:
            batch = await self._batch(leg)
            if not batch:  # nothing more from the server: the caller hangs up
                leg.call.ended_by = "caller"
                await self._event(http, url, leg, "call.hangup", hangup_cause="normal_clearing")
                return
            spoke, asked = 0, False
            for command, body in batch:
                leg.state = body.get("client_state") or leg.state  # Telnyx echoes the latest one
                match command:
                    case "answer":
                        await self._event(http, url, leg, "call.answered", state="answered")
                    case "speak":
                        leg.call.turns.append(SimulatedTurn(speaker="bot", text=body["payload"]))
                        spoke += 1
                        asked = asked or _asks(body)
                    case "transcription_start":
                        leg.transcribing = True
                    case "transcription_stop":
                        leg.transcribing = False
                    case "hangup" | "reject":
                        leg.call.ended_by = "bot"
                        cause = "call_rejected" if command == "reject" else "normal_clearing"
                        await self._event(http, url, leg, "call.hangup", hangup_cause=cause)
                        return
                    case _:
                        raise AssertionError(f"the Telnyx far end does not play {command!r}")
            for _ in range(spoke):  # everything queued has been heard
                await self._event(http, url, leg, "call.speak.ended", status="completed")
            if asked and leg.transcribing and script:
                line = script.pop(0)
                leg.call.turns.append(SimulatedTurn(speaker="caller", text=line))
                data = {"transcript": line, "is_final": True, "confidence": 0.93}
                await self._event(http, url, leg, "call.transcription", transcription_data=data)

    async def _batch(self, leg: _Leg) -> list[tuple[str, dict[str, Any]]]:
        """The next commands: the first within the idle time, then whatever follows it at once."""
        try:
            batch = [await asyncio.wait_for(leg.commands.get(), self.idle_seconds)]
        except TimeoutError:
            return []
        await asyncio.sleep(0.05)  # commands of one webhook arrive back to back
        while not leg.commands.empty():
            batch.append(leg.commands.get_nowait())
        return batch

    async def _event(
        self, http: httpx.AsyncClient, url: str, leg: _Leg, event_type: str, **fields: Any
    ) -> None:
        payload: dict[str, Any] = {
            "call_control_id": leg.call.provider_call_id,
            "call_leg_id": leg.call.provider_call_id.removeprefix("v3:")[:16],
            "call_session_id": "session-" + leg.call.provider_call_id[-8:],
            "connection_id": "1234567890123456789",
            "from": leg.caller,
            "to": leg.callee,
            **fields,
        }
        if leg.state:
            payload["client_state"] = leg.state
        body = envelope(event_type, payload)
        response = await http.post(url, content=body, headers=signed_headers(body))
        response.raise_for_status()


def _asks(speak: dict[str, Any]) -> bool:
    """Whether a ``speak`` is a question the caller answers: a gather's prompt, by its client state.

    A line said while the bot thinks (the holding line) is not: the caller waits for the answer.
    """
    identity = CallIdentity.from_client_state(speak.get("client_state"))
    return identity is not None and identity.kind == "gather"
