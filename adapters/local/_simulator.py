"""The far end of the local carrier: a scripted caller that talks to the server over real HTTP and WebSockets.

It plays the carrier's part exactly as a real one would: signed webhooks, following the markup
it gets back, and a media stream that acknowledges marks once audio has "played".
"""

from __future__ import annotations

import asyncio
import base64
import logging
import secrets
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Literal

import httpx
import msgspec

from telephony.providers import Action, Answer, ConnectStream, Gather, Hangup, Redirect, Reject, Say

from ._signing import signed_headers
from ._wire import ENCODER, FRAME_DECODER, MARKUP_DECODER, Frame

_log = logging.getLogger("telephony.local")

CallerVoice = Callable[[str], Awaitable[bytes]]
"""Renders what the simulated caller says as 8 kHz mu-law audio."""

FRAME_BYTES = 160
SILENCE = b"\xff" * FRAME_BYTES


class SimulatedTurn(msgspec.Struct, kw_only=True):
    """One line of the call as the simulated far end experienced it."""

    speaker: Literal["bot", "caller"]
    text: str
    latency_ms: float | None = None


class SimulatedCall(msgspec.Struct, kw_only=True):
    """The outcome of one simulated call."""

    provider_call_id: str
    media: Literal["markup", "stream"] = "markup"
    turns: list[SimulatedTurn] = msgspec.field(default_factory=list)
    ended_by: Literal["bot", "caller", "none"] = "none"
    bot_audio_ms: float = 0.0
    flushes: int = 0


class LocalSimulator:
    """Places and answers simulated calls against a running server.

    Args:
        secret: The shared webhook signing secret.
        webhook_url: The server's public webhook URL.
        voice: Makes caller speech audio for stream calls; without it the caller stays silent.
        stream_idle_seconds: How long a silent caller waits for the bot before hanging up.
        commands: Command mode: webhook answers are empty and the server's actions arrive
            through :meth:`command` (as REST commands would); gather results carry the call
            identity as client state and go to the one webhook URL.
        reports_silence: When False, a gather that hears nothing reports nothing (as some
            carriers do); the far end just waits for new instructions.
        talks_over: On a media stream, say the next line as soon as the bot starts talking
            instead of waiting for it to finish (barge-in); a ``flush`` frame is counted.
        opens_streams: When False, a call told to connect a media stream never opens it (a
            tunnel that passes webhooks only) and waits for the server's next instructions.
    """

    def __init__(
        self,
        *,
        secret: str,
        webhook_url: str,
        voice: CallerVoice | None = None,
        stream_idle_seconds: float = 20.0,
        commands: bool = False,
        reports_silence: bool = True,
        talks_over: bool = False,
        opens_streams: bool = True,
    ) -> None:
        self.secret = secret
        self.webhook_url = webhook_url
        self.voice = voice
        self.stream_idle_seconds = stream_idle_seconds
        self.commands = commands
        self.reports_silence = reports_silence
        self.talks_over = talks_over
        self.opens_streams = opens_streams
        self._waiting: set[str] = set()
        self.calls: dict[str, SimulatedCall] = {}
        self.received: dict[str, list[Action]] = {}
        self._inboxes: dict[str, asyncio.Queue[list[Action]]] = {}

    async def command(self, provider_call_id: str, actions: list[Action]) -> None:
        """Take actions for one call as commands (command mode); they are carried out in order."""
        self.received.setdefault(provider_call_id, []).extend(actions)
        await self._inbox(provider_call_id).put(actions)

    def _inbox(self, provider_call_id: str) -> asyncio.Queue[list[Action]]:
        return self._inboxes.setdefault(provider_call_id, asyncio.Queue())

    async def _next(self, call: SimulatedCall, answer: list[Any]) -> list[Any]:
        """What to do next: the webhook's answer (markup), or the next commands (command mode)."""
        return await self._wait(call) if self.commands else answer

    async def _wait(self, call: SimulatedCall) -> list[Any]:
        """Wait for whatever the server does next; nothing in time lets the call run out."""
        self._waiting.add(call.provider_call_id)
        try:
            return await asyncio.wait_for(self._inbox(call.provider_call_id).get(), self.stream_idle_seconds)
        except TimeoutError:
            return []  # as an idle carrier call would
        finally:
            self._waiting.discard(call.provider_call_id)

    async def fetch(self, provider_call_id: str, url: str) -> list[Any]:
        """Follow a redirect of a live call: fetch its new instructions and note what they say."""
        async with httpx.AsyncClient(timeout=30) as http:
            actions = await self._post(http, url, {"event": "fetch", "call": provider_call_id})
        if provider_call_id in self._waiting:  # the call loop carries them out
            await self._inbox(provider_call_id).put(actions)
            return actions
        call = self.calls.get(provider_call_id)
        for action in actions:
            said = action.prompt if isinstance(action, Gather) else (action,)
            for item in said:
                if call is not None and isinstance(item, Say):
                    self._note(call, SimulatedTurn(speaker="bot", text=item.text))
        return actions

    def _note(self, call: SimulatedCall, turn: SimulatedTurn) -> None:
        call.turns.append(turn)

    async def _post(self, http: httpx.AsyncClient, url: str, body: dict[str, Any]) -> list[Any]:
        payload = ENCODER.encode(body)
        response = await http.post(url, content=payload, headers=signed_headers(self.secret, url, payload))
        response.raise_for_status()
        return list(MARKUP_DECODER.decode(response.content).actions) if response.content else []

    # ------------------------------------------------------------------ entry points

    async def inbound_call(self, *, caller: str, callee: str, script: Sequence[str]) -> SimulatedCall:
        """Ring the server as an inbound caller who says ``script`` line by line."""
        call = SimulatedCall(provider_call_id="LC" + secrets.token_hex(16))
        self.calls[call.provider_call_id] = call
        body = {
            "event": "started",
            "call": call.provider_call_id,
            "direction": "inbound",
            "caller": caller,
            "callee": callee,
        }
        await self._converse(call, self.webhook_url, body, self.webhook_url, list(script))
        return call

    async def answer_outbound(
        self,
        *,
        provider_call_id: str,
        answer_url: str,
        status_url: str,
        to: str,
        from_: str,
        script: Sequence[str],
        state: str | None = None,
    ) -> SimulatedCall:
        """Be the callee of an outbound call: ring, answer, then follow the markup or commands.

        In command mode every callback goes to the one webhook URL with ``state`` (our call
        identity as client state) instead of to per-call URLs.
        """
        call = SimulatedCall(provider_call_id=provider_call_id)
        self.calls[provider_call_id] = call
        if self.commands:
            answer_url = status_url = self.webhook_url
        async with httpx.AsyncClient(timeout=30) as http:
            await self._post(http, status_url, {"event": "ringing", "call": provider_call_id, "state": state})
        body = {
            "event": "started",
            "call": provider_call_id,
            "direction": "outbound",
            "caller": from_,
            "callee": to,
            "machine": False,
            "state": state,
        }
        await self._converse(call, answer_url, body, status_url, list(script), state=state)
        return call

    # ------------------------------------------------------------------ markup

    async def _converse(
        self,
        call: SimulatedCall,
        url: str,
        body: dict[str, Any],
        status_url: str,
        script: list[str],
        *,
        state: str | None = None,
    ) -> None:
        async with httpx.AsyncClient(timeout=60) as http:
            actions = await self._next(call, await self._post(http, url, body))
            while True:
                next_step = await self._follow(call, http, actions, script)
                if next_step is None:
                    break
                actions = next_step
            reason = "hangup-bot" if call.ended_by == "bot" else "completed"
            ended = {"event": "ended", "call": call.provider_call_id, "reason": reason, "state": state}
            await self._post(http, status_url, ended)

    async def _follow(
        self, call: SimulatedCall, http: httpx.AsyncClient, actions: list[Any], script: list[str]
    ) -> list[Any] | None:
        """Carry out one markup document; return the next one, or None when the call is over."""
        for action in actions:
            match action:
                case Answer():
                    pass  # picked up; a real carrier would report call.answered
                case Say(text=text):
                    self._note(call, SimulatedTurn(speaker="bot", text=text))
                case Gather():
                    return await self._gather(call, http, action, script)
                case Redirect(url=url):  # markup: the next document is at ``url``
                    fetch = {"event": "fetch", "call": call.provider_call_id}
                    return await self._next(call, await self._post(http, url, fetch))
                case Hangup() | Reject():
                    call.ended_by = "bot"
                    return None
                case ConnectStream() if not self.opens_streams:
                    return await self._wait(call)  # the stream never gets through: silence
                case ConnectStream():
                    call.media = "stream"
                    await self._stream(call, action, script)
                    return None
        if self.commands and actions:  # commands that ask nothing of the caller: more will come
            return await self._wait(call)
        call.ended_by = "bot"  # a document that runs out ends the call, as on a real carrier
        return None

    async def _gather(
        self, call: SimulatedCall, http: httpx.AsyncClient, gather: Gather, script: list[str]
    ) -> list[Any] | None:
        """Hear the prompt, then answer with the script's next line (or silence when it has none)."""
        for item in gather.prompt:
            if isinstance(item, Say):
                self._note(call, SimulatedTurn(speaker="bot", text=item.text))
        url = gather.action_url
        result: dict[str, Any] = {"event": "no_input", "call": call.provider_call_id}
        if self.commands:
            url = self.webhook_url
            result["state"] = gather.callback.client_state() if gather.callback else None
        if not script and not self.reports_silence:
            if self.commands:  # the prompt has played (Telnyx: call.speak.ended)
                await self._post(http, url, result | {"event": "played"})
            return await self._wait(call)
        if not script:
            return await self._next(call, await self._post(http, url, result))
        line = script.pop(0)
        result |= {"event": "input", "speech": line, "confidence": 0.93}
        started = time.perf_counter()
        reply = await self._next(call, await self._post(http, url, result))
        latency = (time.perf_counter() - started) * 1000
        self._note(call, SimulatedTurn(speaker="caller", text=line, latency_ms=round(latency, 1)))
        return reply

    # ------------------------------------------------------------------ stream

    async def _stream(self, call: SimulatedCall, action: ConnectStream, script: list[str]) -> None:
        from websockets.asyncio.client import connect

        async with connect(action.url, max_size=2**20) as ws:
            hello = Frame(
                type="hello",
                call=call.provider_call_id,
                stream="LS" + secrets.token_hex(8),
                params=dict(action.parameters),
            )
            await ws.send(ENCODER.encode(hello).decode())
            spoke_at: float | None = None
            while True:
                try:
                    raw = await asyncio.wait_for(ws.recv(), self.stream_idle_seconds)
                except TimeoutError:
                    await ws.send(ENCODER.encode(Frame(type="bye")).decode())
                    call.ended_by = "caller"
                    return
                except Exception:  # the server closed the socket: it hung up
                    call.ended_by = "bot"
                    return
                frame = FRAME_DECODER.decode(raw)
                if frame.type == "flush":
                    call.flushes += 1
                elif frame.type == "play":
                    if self.talks_over and script and self.voice is not None and call.flushes == 0:
                        line = script.pop(0)
                        self._note(call, SimulatedTurn(speaker="caller", text=line))
                        await self._say(ws, line)
                    call.bot_audio_ms += len(base64.b64decode(frame.pcmu or "")) / 8
                    if spoke_at is not None:
                        latency = round((time.perf_counter() - spoke_at) * 1000, 1)
                        call.turns[-1].latency_ms = latency
                        spoke_at = None
                elif frame.type == "marker":
                    # Audio before a marker has "played" once we have it: acknowledge it.
                    await ws.send(ENCODER.encode(Frame(type="played", id=frame.id)).decode())
                    if script and self.voice is not None:
                        line = script.pop(0)
                        await self._say(ws, line)
                        self._note(call, SimulatedTurn(speaker="caller", text=line))
                        spoke_at = time.perf_counter()  # reply latency counts from the end of speech

    async def _say(self, ws: Any, text: str) -> None:
        assert self.voice is not None
        audio = await self.voice(text)
        frames = [audio[i : i + FRAME_BYTES] for i in range(0, len(audio), FRAME_BYTES)]
        for chunk in [*frames, *([SILENCE] * 60)]:
            await ws.send(ENCODER.encode(Frame(type="audio", pcmu=base64.b64encode(chunk).decode())).decode())
