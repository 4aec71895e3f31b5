"""Acme's side of a call, played against a server on a real socket.

It does what Acme Voice (the outside example adapter's fictional command carrier) does: signed
JSON webhooks to one URL, and REST commands (mocked with respx) that it carries out in order by
posting the events they cause: ``call.answered`` for answer, ``call.speak.ended`` once speech has
played, ``call.gather.ended`` with the caller's words or a timeout, ``call.hangup`` when the call
ends. Client state is echoed the way Acme documents it: an event a command causes carries that
command's state, and other events carry the most recent one. A ``streaming_start`` command opens
Acme's media stream to the server: a ``start`` frame with the command's custom parameters, marks
echoed once the audio before them has arrived, and the caller's lines spoken as audio.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import re
import secrets
import time
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import respx

from telephony.adapters.local import SimulatedCall, SimulatedTurn

ACME_API = "https://api.acme.example/v1"
ACME_CREDENTIALS = {"apiKey": "acme-test-key", "webhookSecret": "acme-test-webhook-secret"}

Command = tuple[str, dict[str, Any]]
CallerVoice = Callable[[str], Awaitable[bytes]]
"""Renders what the caller says as 8 kHz mu-law audio, for stream calls."""

FRAME_BYTES = 160  # 20 ms of 8 kHz mu-law


class AcmeFarEnd:
    """Places and answers calls the way Acme would.

    Args:
        webhook_url: The account's webhook URL (the server's webhook URL).
        script: What a callee says on outbound calls, line by line.
        secret: The webhook signing secret.
        idle_seconds: How long a caller waits for a command (or a silent stream) before hanging up.
        voice: Makes the caller's audio on stream calls; without it the caller stays silent.
    """

    def __init__(
        self,
        webhook_url: str,
        script: list[str],
        *,
        secret: str = ACME_CREDENTIALS["webhookSecret"],
        idle_seconds: float = 20.0,
        voice: CallerVoice | None = None,
    ) -> None:
        self.webhook_url = webhook_url
        self.script = script
        self.secret = secret
        self.idle_seconds = idle_seconds
        self.voice = voice
        self.calls: dict[str, SimulatedCall] = {}
        self.commands: dict[str, list[Command]] = {}
        self._inboxes: dict[str, asyncio.Queue[Command]] = {}
        self._states: dict[str, str | None] = {}
        self._ended: set[str] = set()
        self._tasks: set[asyncio.Task[SimulatedCall]] = set()

    def mock_rest_api(self, router: respx.MockRouter) -> None:
        """Answer Acme's REST API: creating a call rings this far end; commands go to its calls."""
        router.post(f"{ACME_API}/calls").mock(side_effect=self._create)
        api = re.escape(ACME_API)
        router.post(url__regex=rf"{api}/calls/(?P<call>[^/]+)/actions/(?P<name>\w+)$").mock(
            side_effect=self._command
        )

    def _command(self, request: httpx.Request, call: str, name: str) -> httpx.Response:
        if call not in self.calls:
            return httpx.Response(404, json={"error": {"code": "call_not_found"}})
        if call in self._ended:
            return httpx.Response(422, json={"error": {"code": "call_ended"}})
        body: dict[str, Any] = json.loads(request.content)
        self.commands.setdefault(call, []).append((name, body))
        self._inboxes[call].put_nowait((name, body))
        return httpx.Response(200, json={})

    def _create(self, request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        call = self._new_call(body.get("client_state"))
        task = asyncio.get_running_loop().create_task(self._answer(call, body))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return httpx.Response(201, json={"call_id": call.provider_call_id, "state": "queued"})

    def _new_call(self, state: str | None = None) -> SimulatedCall:
        call = SimulatedCall(provider_call_id="ac_" + secrets.token_hex(12))
        self.calls[call.provider_call_id] = call
        self._inboxes[call.provider_call_id] = asyncio.Queue()
        self._states[call.provider_call_id] = state
        return call

    async def _answer(self, call: SimulatedCall, dial: dict[str, Any]) -> SimulatedCall:
        party = {"direction": "outbound", "from": dial["from"], "to": dial["to"]}
        async with httpx.AsyncClient(timeout=30) as http:
            url = dial["webhook_url"]
            await self._post(http, url, call, "call.ringing", party)
            await self._post(http, url, call, "call.answered", party, answered_by="human")
            await self._converse(http, url, call, party, list(self.script))
        return call

    async def inbound_call(self, *, caller: str, callee: str, script: list[str]) -> SimulatedCall:
        """Ring the number from ``caller`` and say ``script`` line by line."""
        call = self._new_call()
        party = {"direction": "inbound", "from": caller, "to": callee}
        async with httpx.AsyncClient(timeout=30) as http:
            await self._post(http, self.webhook_url, call, "call.incoming", party)
            await self._converse(http, self.webhook_url, call, party, list(script))
        return call

    async def _converse(
        self, http: httpx.AsyncClient, url: str, call: SimulatedCall, party: dict[str, str], script: list[str]
    ) -> None:
        """Carry out the call's commands in order until one ends it, or the caller gives up."""
        streams: list[asyncio.Task[None]] = []
        try:
            await self._carry_out(http, url, call, party, script, streams)
        finally:
            for stream in streams:
                stream.cancel()
            await asyncio.gather(*streams, return_exceptions=True)

    async def _carry_out(
        self,
        http: httpx.AsyncClient,
        url: str,
        call: SimulatedCall,
        party: dict[str, str],
        script: list[str],
        streams: list[asyncio.Task[None]],
    ) -> None:
        sid = call.provider_call_id
        while True:
            try:
                name, body = await asyncio.wait_for(self._inboxes[sid].get(), self.idle_seconds)
            except TimeoutError:
                call.ended_by = "caller"
                self._ended.add(sid)
                await self._post(http, url, call, "call.hangup", party, cause="caller_hangup")
                return
            state = body.get("client_state")
            if state:
                self._states[sid] = state
            match name:
                case "answer":
                    await self._post(http, url, call, "call.answered", party, state=state)
                case "speak":
                    call.turns.append(SimulatedTurn(speaker="bot", text=body["text"]))
                    await self._post(http, url, call, "call.speak.ended", party, state=state)
                case "gather":
                    for item in body["prompt"]:
                        if "say" in item:
                            call.turns.append(SimulatedTurn(speaker="bot", text=item["say"]["text"]))
                    if not script:
                        await self._post(
                            http, url, call, "call.gather.ended", party, state=state, status="timeout"
                        )
                        continue
                    line = script.pop(0)
                    call.turns.append(SimulatedTurn(speaker="caller", text=line))
                    heard = {"status": "ok", "speech": line, "confidence": 0.91}
                    await self._post(http, url, call, "call.gather.ended", party, state=state, **heard)
                case "streaming_start":
                    call.media = "stream"
                    streams.append(asyncio.create_task(self._stream(call, body, script)))
                case "hangup" | "reject":
                    call.ended_by = "bot"
                    self._ended.add(sid)
                    cause = "normal_clearing" if name == "hangup" else "rejected"
                    await self._post(http, url, call, "call.hangup", party, cause=cause)
                    return
                case _:
                    raise AssertionError(f"the Acme far end does not play {name!r} commands")

    async def _stream(self, call: SimulatedCall, command: dict[str, Any], script: list[str]) -> None:
        """Acme's media stream: start, then echo marks and speak the caller's lines after them."""
        from websockets.asyncio.client import connect
        from websockets.exceptions import ConnectionClosed

        async with connect(command["stream_url"]) as ws:
            await ws.send(json.dumps({"event": "connected"}))
            start = {
                "event": "start",
                "stream_id": "st_" + secrets.token_hex(8),
                "call_id": call.provider_call_id,
                "media_format": {"inbound": {"encoding": "PCMU", "sample_rate": 8000}},
                "custom_parameters": command["custom_parameters"],
            }
            await ws.send(json.dumps(start))
            while True:
                try:
                    frame = json.loads(await asyncio.wait_for(ws.recv(), self.idle_seconds))
                except TimeoutError:
                    await ws.send(json.dumps({"event": "stop"}))
                    call.ended_by = "caller"
                    return
                except ConnectionClosed:  # the server hung up
                    return
                match frame["event"]:
                    case "media":
                        call.bot_audio_ms += len(base64.b64decode(frame["payload"])) / 8
                    case "clear":
                        call.flushes += 1
                    case "mark":  # the audio before it has "played": say so, then answer
                        await ws.send(json.dumps({"event": "mark", "name": frame["name"]}))
                        if script and self.voice is not None:
                            line = script.pop(0)
                            call.turns.append(SimulatedTurn(speaker="caller", text=line))
                            audio = await self.voice(line) + b"\xff" * FRAME_BYTES * 50
                            for i in range(0, len(audio), FRAME_BYTES):
                                payload = base64.b64encode(audio[i : i + FRAME_BYTES]).decode()
                                await ws.send(json.dumps({"event": "media", "payload": payload}))

    async def _post(
        self,
        http: httpx.AsyncClient,
        url: str,
        call: SimulatedCall,
        type_: str,
        party: dict[str, str],
        *,
        state: str | None = None,
        **data: Any,
    ) -> None:
        """Post one signed event about ``call``, as Acme does."""
        echoed = state or self._states[call.provider_call_id]
        envelope = {
            "id": "ev_" + secrets.token_hex(8),
            "type": type_,
            "call": {"id": call.provider_call_id, **party, "client_state": echoed},
            "data": data,
        }
        body = json.dumps(envelope).encode()
        timestamp = int(time.time())
        digest = hmac.new(self.secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
        headers = {"Acme-Signature": f"t={timestamp},v1={digest}", "Content-Type": "application/json"}
        response = await http.post(url, content=body, headers=headers)
        response.raise_for_status()
