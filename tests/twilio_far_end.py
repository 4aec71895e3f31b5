"""Twilio's side of a call, played against a server on a real socket.

It does what Twilio does for a markup call: signed form webhooks (the SDK's own signature),
following the TwiML it gets back, posting gather results to each ``<Gather action>``, fetching
the next document from a ``<Redirect>``, and a status callback when the call ends. Outbound
calls start from the mocked REST API.
"""

from __future__ import annotations

import asyncio
import secrets
from typing import Any
from urllib.parse import parse_qs, urlencode
from xml.etree import ElementTree

import httpx
import respx
from twilio_helpers import ACCOUNT_SID, AUTH_TOKEN, sign

from telephony.adapters.local import SimulatedCall, SimulatedTurn


class TwilioFarEnd:
    """Places and answers calls the way Twilio would.

    Args:
        webhook_url: The voice URL configured for the number (the server's webhook URL).
        script: What a callee says on outbound calls, line by line.
    """

    def __init__(self, webhook_url: str, script: list[str]) -> None:
        self.webhook_url = webhook_url
        self.script = script
        self.calls: dict[str, SimulatedCall] = {}
        self._tasks: set[asyncio.Task[SimulatedCall]] = set()

    def mock_rest_api(self, router: respx.MockRouter) -> None:
        """Answer the Calls resource: creating a call rings this far end; updates succeed."""
        calls = f"https://api.twilio.com/2010-04-01/Accounts/{ACCOUNT_SID}/Calls"
        router.post(f"{calls}.json").mock(side_effect=self._create)
        router.post(url__regex=rf"{calls}/CA\w+\.json").mock(
            return_value=httpx.Response(200, json={"sid": "CA0", "status": "completed"})
        )

    def _create(self, request: httpx.Request) -> httpx.Response:
        form = {key: values[0] for key, values in parse_qs(request.content.decode()).items()}
        sid = "CA" + secrets.token_hex(16)
        task = asyncio.get_running_loop().create_task(self._answer(sid, form))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return httpx.Response(201, json={"sid": sid, "status": "queued"})

    async def _answer(self, sid: str, form: dict[str, str]) -> SimulatedCall:
        call = self.calls.setdefault(sid, SimulatedCall(provider_call_id=sid))
        base = {"CallSid": sid, "AccountSid": ACCOUNT_SID, "From": form["From"], "To": form["To"]}
        base["Direction"] = "outbound-api"
        async with httpx.AsyncClient(timeout=30) as http:
            await self._post(http, form["StatusCallback"], base | {"CallStatus": "ringing"})
            document = await self._post(http, form["Url"], base | {"CallStatus": "in-progress"})
            await self._follow(http, call, document, base, list(self.script))
            await self._post(http, form["StatusCallback"], base | {"CallStatus": "completed"})
        return call

    async def inbound_call(self, *, caller: str, callee: str, script: list[str]) -> SimulatedCall:
        """Ring the number from ``caller`` and say ``script`` line by line."""
        sid = "CA" + secrets.token_hex(16)
        call = self.calls.setdefault(sid, SimulatedCall(provider_call_id=sid))
        base = {
            "CallSid": sid,
            "AccountSid": ACCOUNT_SID,
            "From": caller,
            "To": callee,
            "Direction": "inbound",
        }
        async with httpx.AsyncClient(timeout=30) as http:
            document = await self._post(http, self.webhook_url, base | {"CallStatus": "ringing"})
            await self._follow(http, call, document, base, list(script))
            # The number's status callback (set in the console) hears the end of the call.
            status = base | {"CallStatus": "completed", "CallDuration": "3"}
            await self._post(http, f"{self.webhook_url}?kind=status", status)
        return call

    async def _post(self, http: httpx.AsyncClient, url: str, params: dict[str, str]) -> str:
        headers = {"X-Twilio-Signature": sign(url, params, AUTH_TOKEN)}
        response = await http.post(url, content=urlencode(params), headers=headers | _FORM)
        response.raise_for_status()
        return response.text

    async def _follow(
        self,
        http: httpx.AsyncClient,
        call: SimulatedCall,
        document: str,
        base: dict[str, str],
        script: list[str],
    ) -> None:
        """Carry out TwiML documents until one ends the call or runs out."""
        while document:
            next_document = ""
            for verb in ElementTree.fromstring(document):
                if verb.tag == "Say":
                    call.turns.append(SimulatedTurn(speaker="bot", text=verb.text or ""))
                elif verb.tag == "Gather":
                    call.turns.extend(
                        SimulatedTurn(speaker="bot", text=s.text or "") for s in verb.iter("Say")
                    )
                    result: dict[str, Any] = base | {"CallStatus": "in-progress"}
                    if script:
                        line = script.pop(0)
                        result |= {"SpeechResult": line, "Confidence": "0.91"}
                        call.turns.append(SimulatedTurn(speaker="caller", text=line))
                    next_document = await self._post(http, verb.attrib["action"], result)
                    break
                elif verb.tag == "Redirect":  # fetch the next document from the URL given
                    result = base | {"CallStatus": "in-progress"}
                    next_document = await self._post(http, verb.text or "", result)
                    break
                elif verb.tag == "Pause":
                    pass
                elif verb.tag in ("Hangup", "Reject"):
                    call.ended_by = "bot"
                    return
            else:
                call.ended_by = "bot"  # a document that runs out ends the call
                return
            document = next_document


_FORM = {"Content-Type": "application/x-www-form-urlencoded"}
